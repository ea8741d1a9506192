// The attention kernel for AVX2 + FMA (8 floats per vector). Compiled with -mavx2 -mfma.
#include "ops/cpu/attention_kernel.h"

namespace ipa::ops::cpu {

namespace {
struct Avx2 : Avx2Vec {
  // 4 broadcast rows × 3 vectors = 12 accumulators: enough to cover the FMA latency on two
  // pipes with 16 registers.
  static constexpr int kTileVecs = 3;
};
}  // namespace

void attention_avx2(const AttentionProblem& p) {
  attention_kernel<Avx2>(p);
}

}  // namespace ipa::ops::cpu
