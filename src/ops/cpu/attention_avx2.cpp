// The attention kernel for AVX2 + FMA (8 floats per vector). Compiled with -mavx2 -mfma.
#include "ops/cpu/attention_kernel.h"

namespace ipa::ops::cpu {

namespace {
struct Avx2 {
  static constexpr int W = 8;
  // 4 broadcast rows × 3 vectors = 12 accumulators: enough to cover the FMA latency on two
  // pipes with 16 registers.
  static constexpr int kTileVecs = 3;
  typedef float V __attribute__((vector_size(32)));
  typedef int32_t I __attribute__((vector_size(32)));
  static V load(const float* p) {
    V v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(float* p, V v) { __builtin_memcpy(p, &v, sizeof v); }
  static V splat(float f) { return V{} + f; }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }  // b where either is NaN
};
}  // namespace

void attention_avx2(const AttentionProblem& p) {
  attention_kernel<Avx2>(p);
}

}  // namespace ipa::ops::cpu
