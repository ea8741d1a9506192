// ipa::system_info: what the machine offers; resolve_precision: what `auto` chooses on it.
#include <cstdio>
#include <cstdlib>

#include "api/devices.h"
#include "ipadapter/error.h"
#include "ipadapter/types.h"
#include "ops/ops.h"

namespace ipa {

SystemInfo system_info() {
  SystemInfo s;
  s.default_threads = ops::num_threads();
  s.bf16 = ops::cpu_has_bf16();
  s.isa = ops::cpu_vector_isa();
  return s;
}

std::optional<PrecisionChoice> precision_from_environment() {
  const char* env = std::getenv("IPADAPTER_PRECISION");
  if (env == nullptr || *env == '\0') return std::nullopt;
  const std::optional<Precision> p = parse_precision(env);
  if (!p) {
    throw Error(std::string("environment variable IPADAPTER_PRECISION: expected f32, bf16 or "
                            "auto, got '") +
                env + "'");
  }
  if (*p == Precision::Auto) return std::nullopt;
  return PrecisionChoice{*p, std::string("IPADAPTER_PRECISION=") + env};
}

PrecisionChoice resolve_precision(Precision requested) {
  if (requested != Precision::Auto) return {requested, "as asked"};
  if (const auto from_env = precision_from_environment()) return *from_env;
  if (!ops::cpu_has_bf16()) {
    return {Precision::F32, "auto: this CPU has no bf16 instructions (avx512_bf16 or AMX)"};
  }
  if (ops::cpu_has_amx_bf16()) return {Precision::BF16, "auto: the CPU has AMX bf16 tiles"};
  // avx512_bf16 without AMX: faster than F32 on some CPUs and slower on others, so measured,
  // once per process.
  static const ops::PrecisionTimings t = ops::measure_linear_precisions();
  const bool bf16 = t.bf16_s * 1.1 < t.f32_s;  // bf16 must win clearly: it costs accuracy
  char why[200];
  std::snprintf(why, sizeof why,
                "auto: avx512_bf16 without AMX; a UNet-shaped linear took %.2f ms in bf16 and "
                "%.2f ms in f32 here",
                1e3 * t.bf16_s, 1e3 * t.f32_s);
  return {bf16 ? Precision::BF16 : Precision::F32, why};
}

}  // namespace ipa
