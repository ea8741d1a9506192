#include "ops/cpu/cpu_util.h"

namespace ipa::ops::cpu {

Tensor f32_input(const Tensor& t, const char* op, const char* arg) {
  if (!t.defined()) fail(op, std::string(arg) + " must be a defined tensor", t);
  if (t.dtype() != DType::F32) fail(op, std::string(arg) + " must be F32", t);
  return t.contiguous();
}

}  // namespace ipa::ops::cpu
