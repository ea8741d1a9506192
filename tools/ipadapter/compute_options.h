// The options every compute-heavy subcommand shares: threads and precision.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace ipa::cli {

struct ComputeOptions {
  int threads = 0;                // 0 = all physical cores
  std::string precision = "f32";  // f32 | bf16
};

void add_compute_options(CLI::App& sub, ComputeOptions& c);
// Sets them process-wide; bf16 on a CPU without bf16 support is an ipa::Error saying so.
void apply_compute_options(const ComputeOptions& c);

}  // namespace ipa::cli
