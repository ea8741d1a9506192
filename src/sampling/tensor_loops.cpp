#include "sampling/tensor_loops.h"

namespace ipa::sampling::detail {

Tensor as_f32(const Tensor& t, const char* what) {
  if (!t.defined()) throw Error(std::string("scheduler: ") + what + " tensor is empty");
  if (t.dtype() == DType::F32) return t.contiguous();
  if (t.dtype() == DType::F16 || t.dtype() == DType::BF16) return t.to(DType::F32);
  throw Error(std::string("scheduler: ") + what + " must be a floating-point tensor, got " +
              t.describe());
}

std::pair<Tensor, Tensor> as_f32_pair(const Tensor& a_in, const char* a_name, const Tensor& b_in,
                                      const char* b_name) {
  Tensor a = as_f32(a_in, a_name);
  Tensor b = as_f32(b_in, b_name);
  if (a.shape() != b.shape()) {
    throw Error(std::string("scheduler: ") + a_name + " " + shape_str(a.shape()) + " and " +
                b_name + " " + shape_str(b.shape()) + " must have the same shape");
  }
  return {std::move(a), std::move(b)};
}

}  // namespace ipa::sampling::detail
