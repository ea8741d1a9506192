// ipa::system_info: what the machine offers.
#include "ipadapter/types.h"
#include "ops/ops.h"

namespace ipa {

SystemInfo system_info() {
  SystemInfo s;
  s.default_threads = ops::num_threads();
  s.bf16 = ops::cpu_has_bf16();
  s.isa = __builtin_cpu_supports("avx512f") ? "avx512"
          : __builtin_cpu_supports("avx2")  ? "avx2"
                                            : "sse";
  return s;
}

}  // namespace ipa
