// `ipadapter bench`: one SD1.5 or SDXL IP-Adapter generation through the public engine, with load,
// encoder, per-step UNet, VAE decode times, the UNet's FLOPs and achieved GFLOP/s against the
// FMA peak measured in the same run, the IP-Adapter's share of a UNet step, per-op-kind
// profiles and resident memory. Without model paths it benchmarks full-size random-weight
// models built from real configs (bench/synthetic_models.h).
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ipadapter/types.h"

namespace ipa::bench {

struct E2EBenchOptions {
  // Real models; with `base` empty, synthetic ones from `configs_dir` cached in `cache_dir`.
  std::string base, ip_adapter, image_encoder;
  std::string configs_dir, cache_dir;
  std::string arch = "sd15";              // synthetic models: sd15 or sdxl
  std::string adapter_variant = "basic";  // synthetic adapter: basic or plus
  // A ControlNet beside the UNet (the reference image as its control image): a real one
  // (`controlnet_path`, with --base), or, with `controlnet`, a random full-size one from
  // configs/controlnet_<arch>/.
  bool controlnet = false;
  std::string controlnet_path;
  // A LoRA merged at load: a real file (`lora`, weight 1), or with `lora_rank` > 0 a random
  // one of that rank on every linear / conv layer (bench/random_lora.h).
  std::string lora;
  int lora_rank = 0;
  ComputeOptions compute;
  std::string image;  // reference image (default: a generated pattern)
  Sampler sampler = Sampler::Default;
  std::optional<float> cfg;              // unset = the family's default; <= 1 runs without guidance
  int width = 0, height = 0, steps = 2;  // 0 = the model's default size
  int overhead_reps = 1;                 // UNet forwards with / without image tokens, each
  uint64_t seed = 0;                     // random weights and initial noise
  double peak_run_s = 0.2;               // length of each FMA peak run
  int device_peak_size = 8192;           // off the host: n of the n×n×n bf16 peak product
  bool keep_models = false;              // false: EngineOptions::one_shot, as `ipadapter generate`
  std::function<void(const std::string&)> log;  // progress lines
};

// One JSON object; keys documented in docs/performance.md ("End-to-end").
nlohmann::json run_e2e_bench(const E2EBenchOptions& options);

// The human-readable table of a report.
std::string format_e2e_report(const nlohmann::json& report);

}  // namespace ipa::bench
