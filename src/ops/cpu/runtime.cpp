// Threads and the CPU's precision support: one OpenMP runtime governs oneDNN and our kernels.
#include <omp.h>

#include "ops/ops.h"

namespace ipa::ops {

int num_threads() {
  return omp_get_max_threads();
}

ThreadScope::ThreadScope(int threads) : previous_(omp_get_max_threads()) {
  if (threads < 0) throw Error("thread count must be at least 1, got " + std::to_string(threads));
  if (threads > 0) omp_set_num_threads(threads);
}

ThreadScope::~ThreadScope() {
  omp_set_num_threads(previous_);
}

bool cpu_has_bf16() {
  return __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
}

void require_precision(Precision p) {
  if (p == Precision::BF16 && !cpu_has_bf16()) {
    throw Error("bf16 precision needs a CPU with avx512_bf16 or AMX; this one has neither");
  }
}

}  // namespace ipa::ops
