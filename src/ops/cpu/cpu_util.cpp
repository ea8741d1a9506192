#include "ops/cpu/cpu_util.h"

namespace ipa::ops::cpu {

Tensor f32_input(const Tensor& t, const char* op, const char* arg) {
  if (!t.defined()) fail(op, std::string(arg) + " must be a defined tensor", t);
  if (t.dtype() != DType::F32) fail(op, std::string(arg) + " must be F32", t);
  return t.contiguous();
}

Tensor f32_input_keep_layout(const Tensor& t, const char* op, const char* arg) {
  return is_channels_last(t) && t.dtype() == DType::F32 ? t : f32_input(t, op, arg);
}

Tensor empty_like_layout(const Tensor& x) {
  return is_channels_last(x) ? empty_channels_last(x.shape()) : Tensor::empty(x.shape());
}

}  // namespace ipa::ops::cpu
