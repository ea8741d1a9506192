#include "ops/cpu/isa.h"

namespace ipa::ops::cpu {

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

}  // namespace ipa::ops::cpu
