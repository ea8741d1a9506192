// The options every compute-heavy subcommand shares: threads, precision and device.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "ipadapter/types.h"

namespace ipa::cli {

struct ComputeFlags {
  int threads = 0;                 // 0 = all physical cores
  std::string precision = "auto";  // f32 | bf16 | auto
  std::string device = "cpu";      // cpu | cuda | cuda:N (checked when the engine loads)
  ComputeOptions options() const;
};

void add_compute_options(CLI::App& sub, ComputeFlags& c);

}  // namespace ipa::cli
