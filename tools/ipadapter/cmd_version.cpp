// `ipadapter info`: build and CPU facts.
#include <cstdio>

#include "commands.h"
#include "ops/ops.h"

namespace ipa::cli {
namespace {
const bool registered = register_command("info", "Build and CPU information", [](CLI::App&) {
  return [] {
    std::printf("ipadapter 0.1.0\nthreads: %d\nbf16 compute available: %s\n", ops::num_threads(),
                ops::cpu_has_bf16() ? "yes" : "no");
    return 0;
  };
});
}  // namespace
}  // namespace ipa::cli
