// `ipadapter info`: build and CPU facts.
#include <cstdio>

#include "commands.h"
#include "ipadapter/types.h"

namespace ipa::cli {
namespace {
const bool registered = register_command("info", "Build and CPU information", [](CLI::App&) {
  return [] {
    const SystemInfo s = system_info();
    std::printf("ipadapter 0.1.0\nthreads: %d\nvector ISA: %s\nbf16 compute available: %s\n",
                s.default_threads, s.isa.c_str(), s.bf16 ? "yes" : "no");
    try {
      const PrecisionChoice p = resolve_precision(Precision::Auto);
      std::printf("precision auto: %s (%s)\n", precision_name(p.precision), p.reason.c_str());
    } catch (const std::exception& e) {
      std::printf("precision auto: %s\n", e.what());
    }
    for (const std::string& d : device_descriptions()) std::printf("device: %s\n", d.c_str());
    return 0;
  };
});
}  // namespace
}  // namespace ipa::cli
