// Small element-wise helpers for the schedulers. Each formula is written as one loop whose
// float32 operations follow the separate torch ops diffusers runs, in the same order (the
// sampling sources build with -ffp-contract=off, so every operation rounds on its own).
#pragma once
#include <cstdint>
#include <utility>

#include "base/error.h"
#include "tensor/tensor.h"

namespace ipa::sampling::detail {

// A contiguous float32 tensor with the values of `t` (F16/BF16 are widened); `what` names the
// argument in errors.
Tensor as_f32(const Tensor& t, const char* what);
// as_f32 of two arguments that must have the same shape (e.g. model_output and sample).
std::pair<Tensor, Tensor> as_f32_pair(const Tensor& a, const char* a_name, const Tensor& b,
                                      const char* b_name);

// Read-only element pointer (never trips the write check of read-only views).
inline const float* cdata(const Tensor& t) {
  return t.data<float>();
}

// out[i] = f(i) for a fresh float32 tensor of `shape`.
template <typename F>
Tensor generate(const Shape& shape, F&& f) {
  Tensor out = Tensor::empty(shape, DType::F32);
  float* o = out.data<float>();
  const int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) o[i] = f(i);
  return out;
}

}  // namespace ipa::sampling::detail
