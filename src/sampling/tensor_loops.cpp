#include "sampling/tensor_loops.h"

namespace ipa::sampling::detail {

Tensor as_f32(const Tensor& t, const char* what) {
  if (!t.defined()) throw Error(std::string("scheduler: ") + what + " tensor is empty");
  if (t.dtype() == DType::F32) return t.contiguous();
  if (t.dtype() == DType::F16 || t.dtype() == DType::BF16) return t.to(DType::F32);
  throw Error(std::string("scheduler: ") + what + " must be a floating-point tensor, got " +
              t.describe());
}

void check_same_shape(const Tensor& a, const char* a_name, const Tensor& b, const char* b_name) {
  if (a.shape() != b.shape()) {
    throw Error(std::string("scheduler: ") + a_name + " " + shape_str(a.shape()) + " and " +
                b_name + " " + shape_str(b.shape()) + " must have the same shape");
  }
}

}  // namespace ipa::sampling::detail
