// The attention kernel for AVX-512F (16 floats per vector). Compiled with -mavx512f; run only
// where the CPU has it (attention.cpp checks).
#include "ops/cpu/attention_kernel.h"

namespace ipa::ops::cpu {

namespace {
struct Avx512 {
  static constexpr int W = 16;
  // 4 broadcast rows × 3 vectors of 16 queries; 32 registers would allow wider tiles, which
  // measured no faster (the query block is 6 vectors, so 3 divides it).
  static constexpr int kTileVecs = 3;
  typedef float V __attribute__((vector_size(64)));
  typedef int32_t I __attribute__((vector_size(64)));
  static V load(const float* p) {
    V v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(float* p, V v) { __builtin_memcpy(p, &v, sizeof v); }
  static V splat(float f) { return V{} + f; }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  // b where either is NaN, as maxps (spelled as a select: GCC 12's _mm512_max_ps trips
  // -Wmaybe-uninitialized in its own header).
  static V max(V a, V b) { return a > b ? a : b; }
};
}  // namespace

void attention_avx512(const AttentionProblem& p) {
  attention_kernel<Avx512>(p);
}

}  // namespace ipa::ops::cpu
