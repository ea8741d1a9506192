// The attention kernel for AVX-512F (16 floats per vector). Compiled with -mavx512f; run only
// where the CPU has it (attention.cpp checks).
#include "ops/cpu/attention_kernel.h"

namespace ipa::ops::cpu {

namespace {
struct Avx512 : Avx512Vec {
  // 4 broadcast rows × 3 vectors of 16 queries; 32 registers would allow wider tiles, which
  // measured no faster (the query block is 6 vectors, so 3 divides it).
  static constexpr int kTileVecs = 3;
};
}  // namespace

void attention_avx512(const AttentionProblem& p) {
  attention_kernel<Avx512>(p);
}

}  // namespace ipa::ops::cpu
