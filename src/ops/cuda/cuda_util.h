// Argument checks and tensor plumbing shared by the CUDA ops (plain C++): errors name the op,
// the argument and the shapes, as the CPU ops' do.
#pragma once
#include <string>

#include "ops/cuda/cuda_context.h"
#include "ops/op_checks.h"  // fail() and the checks shared with the CPU ops
#include "tensor/tensor.h"

namespace ipa::ops::cuda {

std::string shape_str(const Shape& s);

bool is_float(DType t);
// A contiguous F32/F16/BF16 tensor on a CUDA device (no copy when it already is one).
Tensor device_input(const Tensor& t, const char* op, const char* arg);
// A weight or bias for activations of dtype `dt`: on the same device, F32 or `dt`, returned
// contiguous in `dt` (a converted copy only when the dtypes differ).
Tensor operand_as(const Tensor& t, DType dt, Device device, const char* op, const char* arg);
// A size for cuBLAS / cuDNN, which take int: throws ipa::Error naming `op` above 2^31-1 instead
// of wrapping into a silently wrong call.
int int_arg(int64_t v, const char* op);
// The context of the tensor's GPU (made current).
Context& context_of(const Tensor& t);

}  // namespace ipa::ops::cuda
