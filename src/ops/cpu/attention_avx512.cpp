// The attention kernel for AVX-512F (16 floats per vector). Compiled with -mavx512f; run only
// where the CPU has it (attention.cpp checks).
#include "ops/cpu/attention_kernel.h"

namespace ipa::ops::cpu {

namespace {
struct Avx512 : Avx512Vec {
  // 4 broadcast rows × 6 vectors of 16 queries (the whole query block): 24 accumulators of the
  // 32 registers, 10 loads per 24 FMAs (4 × 3 reached ~87 % of the FMA peak in the two products,
  // 4 × 6 ~93 %).
  static constexpr int kTileVecs = 6;
};
}  // namespace

void attention_avx512(const AttentionProblem& p) {
  attention_kernel<Avx512>(p);
}

}  // namespace ipa::ops::cpu
