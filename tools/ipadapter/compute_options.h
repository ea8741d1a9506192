// The options every compute-heavy subcommand shares: threads and precision.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "ipadapter/types.h"

namespace ipa::cli {

struct ComputeFlags {
  int threads = 0;                 // 0 = all physical cores
  std::string precision = "auto";  // f32 | bf16 | auto
  ComputeOptions options() const;
};

void add_compute_options(CLI::App& sub, ComputeFlags& c);

}  // namespace ipa::cli
