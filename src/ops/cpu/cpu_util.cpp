#include "ops/cpu/cpu_util.h"

namespace ipa::ops::cpu {

Tensor f32_input(const Tensor& t, const char* op, const char* arg) {
  if (!t.defined()) fail(op, std::string(arg) + " must be a defined tensor", t);
  if (t.dtype() != DType::F32) fail(op, std::string(arg) + " must be F32", t);
  return t.contiguous();
}

void check_rank(const Tensor& t, int64_t rank, const char* op, const char* arg) {
  if (t.dim() != rank) {
    fail(op, std::string(arg) + " must have rank " + std::to_string(rank), t);
  }
}

}  // namespace ipa::ops::cpu
