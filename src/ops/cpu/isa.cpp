#include "ops/cpu/isa.h"

#include <cstdlib>
#include <stdexcept>
#include <string_view>

namespace ipa::ops::cpu {

namespace {
thread_local int t_override = -1;  // an Isa, or -1
}

const char* isa_name(Isa isa) {
  return isa == Isa::Avx512 ? "avx512" : "avx2";
}

bool isa_capped_below_avx512() {
  // oneDNN's own cap (AVX2, AVX2_VNNI, AVX, SSE41...) caps our kernels too, read once like oneDNN
  // reads it: one knob makes an AVX-512 machine run (and measure) the AVX2 code of both.
  static const bool capped = [] {
    const char* v = std::getenv("ONEDNN_MAX_CPU_ISA");
    if (v == nullptr || *v == '\0') return false;
    const std::string_view cap(v);
    return !(cap.starts_with("AVX512") || cap.starts_with("AVX10") || cap == "ALL" ||
             cap == "DEFAULT");
  }();
  return capped;
}

Isa best_isa() {
  static const Isa best =
      __builtin_cpu_supports("avx512f") && !isa_capped_below_avx512() ? Isa::Avx512 : Isa::Avx2;
  return best;
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
