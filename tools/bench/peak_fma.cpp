#include "bench/peak_fma.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <string_view>

#include "base/error.h"
#include "ops/ops.h"

namespace ipa::bench {

namespace {

// Zen 3/4/5 and Intel cores have 2 FMA pipes with 4 cycles latency: >= 8 chains in flight keep
// both busy. Explicit FMA intrinsics so the kernels do not depend on -ffp-contract; each is
// compiled for its own ISA and chosen at run time.
__attribute__((target("avx2,fma"), noinline)) float fma_chains_256(int64_t iters, float seed) {
  __m256 acc[kFmaChains];
  for (int i = 0; i < kFmaChains; ++i) acc[i] = _mm256_set1_ps(seed * static_cast<float>(i + 1));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kFmaChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  __m256 s = _mm256_setzero_ps();
  for (int i = 0; i < kFmaChains; ++i) s = _mm256_add_ps(s, acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, s);
  float r = 0;
  for (float v : lanes) r += v;
  return r;
}

__attribute__((target("avx512f"), noinline)) float fma_chains_512(int64_t iters, float seed) {
  __m512 acc[kFmaChains];
  for (int i = 0; i < kFmaChains; ++i) acc[i] = _mm512_set1_ps(seed * static_cast<float>(i + 1));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kFmaChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  __m512 s = _mm512_setzero_ps();
  for (int i = 0; i < kFmaChains; ++i) s = _mm512_add_ps(s, acc[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, s);
  float r = 0;
  for (float v : lanes) r += v;
  return r;
}

__attribute__((target("avx512f,avx512bf16"), noinline)) float dpbf16_chains_512(int64_t iters,
                                                                                float seed) {
  __m512 acc[kBf16Chains];
  for (int i = 0; i < kBf16Chains; ++i) acc[i] = _mm512_set1_ps(seed * static_cast<float>(i + 1));
  // Pairs of bf16 values near 1e-3: the sums stay finite for any iteration count.
  const __m512i a = _mm512_set1_epi32(0x3A833A83), b = _mm512_set1_epi32(0x3A833A83);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kBf16Chains; ++i) {
      acc[i] = _mm512_dpbf16_ps(acc[i], (__m512bh)a, (__m512bh)b);
    }
  }
  __m512 s = _mm512_setzero_ps();
  for (int i = 0; i < kBf16Chains; ++i) s = _mm512_add_ps(s, acc[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, s);
  float r = 0;
  for (float v : lanes) r += v;
  return r;
}

// The ISA the ops use (ONEDNN_MAX_CPU_ISA may cap it to AVX2): the peak of the code that runs.
bool has_avx512() {
  return std::string_view(ops::cpu_vector_isa()) == "avx512";
}

}  // namespace

int fma_lanes() {
  return has_avx512() ? 16 : 8;
}

const char* fma_isa() {
  return has_avx512() ? "avx512" : "avx2";
}

float fma_chains(int64_t iters, float seed) {
  return has_avx512() ? fma_chains_512(iters, seed) : fma_chains_256(iters, seed);
}

bool has_bf16_chains() {
  return __builtin_cpu_supports("avx512bf16") && has_avx512();
}

float dpbf16_chains(int64_t iters, float seed) {
  if (!has_bf16_chains()) throw Error("dpbf16_chains: this CPU has no avx512_bf16");
  return dpbf16_chains_512(iters, seed);
}

namespace {

double measure(int threads, double seconds_per_run, int repeats, float (*kernel)(int64_t, float),
               double flops_per_iter) {
  if (threads <= 0) threads = ops::num_threads();
  using clock = std::chrono::steady_clock;
  auto run = [threads, kernel](int64_t iters) {
    const auto t0 = clock::now();
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += kernel(iters, 1.f + static_cast<float>(omp_get_thread_num()));
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
    best = std::max(best, flops_per_iter * static_cast<double>(iters) * threads / t * 1e-9);
  }
  return best;
}

}  // namespace

double measure_peak_fma_gflops(int threads, double seconds_per_run, int repeats) {
  return measure(threads, seconds_per_run, repeats, fma_chains, fma_chains_flops(1));
}

double measure_peak_bf16_gflops(int threads, double seconds_per_run, int repeats) {
  if (!has_bf16_chains()) return 0;
  return measure(threads, seconds_per_run, repeats, dpbf16_chains, dpbf16_chains_flops(1));
}

}  // namespace ipa::bench
