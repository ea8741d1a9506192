#include "compute_options.h"

namespace ipa::cli {

void add_compute_options(CLI::App& sub, ComputeFlags& c) {
  sub.add_option("--threads", c.threads, "CPU threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--precision", c.precision,
                 "Compute precision of the convolutions, linear layers and UNet attention: f32, "
                 "bf16 (bf16 inputs and weights, F32 accumulation; needs a CPU with AVX-512 BF16 "
                 "or AMX), "
                 "or auto: bf16 where it is faster on this CPU (AMX, or measured), else f32; "
                 "the environment variable IPADAPTER_PRECISION replaces auto")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "bf16", "auto"}));
  sub.add_option("--device", c.device,
                 "Where the models run: cpu, cuda or cuda:N (cuda needs a build with "
                 "-DIPA_CUDA=ON, docs/cuda.md; there, precision auto is bf16)")
      ->capture_default_str();
}

ComputeOptions ComputeFlags::options() const {
  ComputeOptions o;
  o.threads = threads;
  o.precision = parse_precision(precision).value_or(Precision::Auto);
  o.device = device;
  return o;
}

}  // namespace ipa::cli
