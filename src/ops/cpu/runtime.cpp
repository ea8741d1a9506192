// Thread count and compute precision: one OpenMP runtime governs oneDNN and our kernels.
#include <omp.h>

#include <atomic>
#include <thread>

#include "ops/ops.h"

namespace ipa::ops {

namespace {
std::atomic<Precision> g_precision{Precision::F32};
}

void set_num_threads(int n) {
  if (n < 1) throw Error("thread count must be at least 1, got " + std::to_string(n));
  omp_set_num_threads(n);
}

int num_threads() {
  return omp_get_max_threads();
}

void set_precision(Precision p) {
  if (p == Precision::BF16 && !cpu_has_bf16()) {
    throw Error("bf16 precision needs a CPU with avx512_bf16 or AMX; this one has neither");
  }
  g_precision = p;
}

Precision precision() {
  return g_precision;
}

bool cpu_has_bf16() {
  return __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
}

}  // namespace ipa::ops
