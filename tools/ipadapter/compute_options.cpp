#include "compute_options.h"

#include "ops/ops.h"

namespace ipa::cli {

void add_compute_options(CLI::App& sub, ComputeOptions& c) {
  sub.add_option("--threads", c.threads, "CPU threads (default: all cores)");
  sub.add_option("--precision", c.precision,
                 "Compute precision of the convolutions and linear layers: f32, or bf16 "
                 "(bf16 inputs and weights, F32 accumulation; needs a CPU with AVX-512 BF16 "
                 "or AMX)")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "bf16"}));
}

void apply_compute_options(const ComputeOptions& c) {
  if (c.threads > 0) ops::set_num_threads(c.threads);
  ops::set_precision(c.precision == "bf16" ? ops::Precision::BF16 : ops::Precision::F32);
}

}  // namespace ipa::cli
