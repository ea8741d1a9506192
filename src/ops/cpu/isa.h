// The vector instruction sets our own kernels are built for, chosen at run time: one binary
// runs on AVX2-only and AVX-512 CPUs. (oneDNN dispatches its own kernels the same way.)
#pragma once
#include <vector>

namespace ipa::ops::cpu {

enum class Isa { Avx2, Avx512 };
const char* isa_name(Isa isa);  // "avx2", "avx512"
// The widest this CPU runs, unless the environment variable ONEDNN_MAX_CPU_ISA (oneDNN's own
// cap, read once) names an ISA below AVX-512: then AVX2 for our kernels as for oneDNN's.
Isa best_isa();
bool isa_capped_below_avx512();
// Every variant this CPU runs, narrowest first (tests run each against the reference loops).
std::vector<Isa> supported_isas();
// The variant the ops run on this thread: best_isa(), unless an IsaOverride is active.
Isa active_isa();

// Makes the ops of the calling thread use `isa` (which this CPU must run) while it lives; tests
// use it to run every variant.
class IsaOverride {
 public:
  explicit IsaOverride(Isa isa);
  ~IsaOverride();
  IsaOverride(const IsaOverride&) = delete;
  IsaOverride& operator=(const IsaOverride&) = delete;

 private:
  int previous_;
};

}  // namespace ipa::ops::cpu
