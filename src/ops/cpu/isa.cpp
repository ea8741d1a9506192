#include "ops/cpu/isa.h"

#include <stdexcept>

namespace ipa::ops::cpu {

namespace {
thread_local int t_override = -1;  // an Isa, or -1
}

const char* isa_name(Isa isa) {
  return isa == Isa::Avx512 ? "avx512" : "avx2";
}

Isa best_isa() {
  return __builtin_cpu_supports("avx512f") ? Isa::Avx512 : Isa::Avx2;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out = {Isa::Avx2};
  if (best_isa() == Isa::Avx512) out.push_back(Isa::Avx512);
  return out;
}

Isa active_isa() {
  return t_override < 0 ? best_isa() : static_cast<Isa>(t_override);
}

IsaOverride::IsaOverride(Isa isa) : previous_(t_override) {
  if (isa == Isa::Avx512 && best_isa() != Isa::Avx512) {
    throw std::logic_error("IsaOverride: this CPU does not run AVX-512");
  }
  t_override = static_cast<int>(isa);
}

IsaOverride::~IsaOverride() {
  t_override = previous_;
}

}  // namespace ipa::ops::cpu
