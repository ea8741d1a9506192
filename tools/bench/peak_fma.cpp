#include "bench/peak_fma.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>

#include "ops/ops.h"

namespace ipa::bench {

typedef float v8f __attribute__((vector_size(32)));

// Zen 3 has 2 FMA pipes with 4 cycles latency: >= 8 chains in flight keep both busy. Explicit
// FMA so the kernel does not depend on -ffp-contract.
__attribute__((noinline)) float fma_chains(int64_t iters, float seed) {
  v8f acc[kFmaChains];
  for (int i = 0; i < kFmaChains; ++i) acc[i] = v8f{} + seed * static_cast<float>(i + 1);
  const v8f a = v8f{} + 0.999999f, b = v8f{} + 1e-7f;
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kFmaChains; ++i) {
#ifdef __FMA__
      acc[i] = _mm256_fmadd_ps(acc[i], a, b);
#else
      acc[i] = acc[i] * a + b;
#endif
    }
  }
  v8f s = {};
  for (int i = 0; i < kFmaChains; ++i) s += acc[i];
  float r = 0;
  for (int j = 0; j < 8; ++j) r += s[j];
  return r;
}

double measure_peak_fma_gflops(int threads, double seconds_per_run, int repeats) {
  if (threads <= 0) threads = ops::num_threads();
  using clock = std::chrono::steady_clock;
  auto run = [threads](int64_t iters) {
    const auto t0 = clock::now();
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += fma_chains(iters, 1.f + static_cast<float>(omp_get_thread_num()));
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    volatile float keep = sink;
    (void)keep;
    return s;
  };
  // Calibrate the iteration count to about seconds_per_run.
  int64_t iters = 1 << 16;
  double s = run(iters);
  while (s < seconds_per_run / 4 && iters < (int64_t{1} << 34)) {
    iters *= 4;
    s = run(iters);
  }
  iters = std::max<int64_t>(
      1, static_cast<int64_t>(static_cast<double>(iters) * seconds_per_run / std::max(s, 1e-9)));
  double best = 0;
  for (int r = 0; r < std::max(repeats, 1); ++r) {
    const double t = run(iters);
    best = std::max(best, fma_chains_flops(iters) * threads / t * 1e-9);
  }
  return best;
}

}  // namespace ipa::bench
