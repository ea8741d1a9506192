#include "ops/cuda/cuda_util.h"

#include <limits>

#include "base/error.h"

namespace ipa::ops::cuda {

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

bool is_float(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

Tensor device_input(const Tensor& t, const char* op, const char* arg) {
  if (!t.defined()) fail(op, std::string(arg) + " must be defined");
  if (t.device().type != DeviceType::CUDA) {
    fail(op, std::string(arg) + " must be on a CUDA device", t);
  }
  if (!is_float(t.dtype())) fail(op, std::string(arg) + " must be F32, F16 or BF16", t);
  return t.contiguous();
}

Tensor operand_as(const Tensor& t, DType dt, Device device, const char* op, const char* arg) {
  if (!t.defined()) fail(op, std::string(arg) + " must be defined");
  if (!(t.device() == device)) {
    fail(op, std::string(arg) + " must be on " + device.name() + " with the activations", t);
  }
  if (t.dtype() != dt && t.dtype() != DType::F32) {
    fail(op, std::string(arg) + " must be F32 or the activations' " + dtype_name(dt), t);
  }
  return t.to(dt);  // contiguous() when the dtype already matches
}

Context& context_of(const Tensor& t) {
  return context(t.device());
}

int int_arg(int64_t v, const char* op) {
  if (v < 0 || v > std::numeric_limits<int>::max()) {
    throw Error(std::string(op) + ": size " + std::to_string(v) +
                " does not fit the int that cuBLAS / cuDNN take (at most 2^31-1)");
  }
  return static_cast<int>(v);
}

}  // namespace ipa::ops::cuda
