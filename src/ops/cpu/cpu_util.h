// Internal helpers shared by the CPU ops: argument checks that throw ipa::Error with the shapes,
// and F32 access. (Vector math for the kernels: vec_math.h.)
#pragma once
#include <cstdint>
#include <string>

#include "ops/backend.h"    // every op routes device tensors to their backend first
#include "ops/op_checks.h"  // fail() and the checks shared with the CUDA backend
#include "ops/ops.h"

namespace ipa::ops::cpu {

// Contiguous F32 version of t (no copy when it already is); throws for undefined tensors and
// non-F32 dtypes, naming the op and the argument.
Tensor f32_input(const Tensor& t, const char* op, const char* arg);

// For element-by-element ops that keep a channels-last layout (ops.h): t itself when it is an
// F32 channels-last tensor (the op then runs over its storage), else f32_input(t).
Tensor f32_input_keep_layout(const Tensor& t, const char* op, const char* arg);
// An uninitialised F32 tensor of x's shape and layout (channels-last or contiguous), for the
// result of such an op on f32_input_keep_layout(x).
Tensor empty_like_layout(const Tensor& x);

}  // namespace ipa::ops::cpu
