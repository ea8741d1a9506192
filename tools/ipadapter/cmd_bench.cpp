// `ipadapter bench`: end-to-end speed and memory of one SD1.5 or SDXL IP-Adapter generation
// (tools/bench/e2e_bench.h). Without --base, full-size random-weight models from configs/.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "bench/e2e_bench.h"
#include "bench/synthetic_models.h"
#include "commands.h"
#include "compute_options.h"
#include "ipadapter/error.h"
#include "ipadapter/types.h"

namespace fs = std::filesystem;

namespace ipa::cli {
namespace {

struct BenchCliOptions {
  bench::E2EBenchOptions bench;
  ComputeFlags compute;
  std::string sampler = "default";
  float cfg = 0.f;
  CLI::Option* cfg_option = nullptr;  // given or not
  CLI::Option* controlnet_option = nullptr;
  bool json = false;
};

bool has_configs(const fs::path& dir) {
  return fs::is_regular_file(dir / "sd15" / "unet" / "config.json") &&
         fs::is_regular_file(dir / "sdxl" / "unet" / "config.json");
}

// --configs, else $IPADAPTER_CONFIGS, else a configs/ folder above the executable or the
// working directory (the repository's configs/ when run from a build tree).
std::string find_configs(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* env = std::getenv("IPADAPTER_CONFIGS"); env && *env) return env;
  std::vector<fs::path> starts;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) starts.push_back(exe.parent_path());
  starts.push_back(fs::current_path());
  for (fs::path p : starts) {
    for (; !p.empty(); p = p.parent_path()) {
      if (has_configs(p / "configs")) return (p / "configs").string();
      if (p == p.parent_path()) break;
    }
  }
  throw Error(
      "cannot find the model configs (configs/sd15/unet/config.json); pass --configs DIR "
      "or set IPADAPTER_CONFIGS");
}

int run_bench(BenchCliOptions& o) {
  bench::E2EBenchOptions& b = o.bench;
  b.compute = o.compute.options();
  const auto sampler = parse_sampler(o.sampler);
  if (!sampler) {
    std::string names;
    for (const auto& n : sampler_names()) names += (names.empty() ? "" : ", ") + n;
    throw Error("--sampler: unknown sampler '" + o.sampler + "' (one of: " + names + ")");
  }
  b.sampler = *sampler;
  if (o.cfg_option && o.cfg_option->count() > 0) b.cfg = o.cfg;
  if (o.controlnet_option && o.controlnet_option->count() > 0) {
    b.controlnet = true;
    if (b.base.empty() && !b.controlnet_path.empty()) {
      throw Error(
          "bench: --controlnet FILE needs --base (real models); without --base, give "
          "--controlnet alone for a random full-size one");
    }
    if (!b.base.empty() && b.controlnet_path.empty()) {
      throw Error("bench: with --base, --controlnet needs the ControlNet's folder or file");
    }
  }
  if (b.base.empty()) b.configs_dir = find_configs(b.configs_dir);
  b.log = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
  const nlohmann::json report = bench::run_e2e_bench(b);
  if (o.json) {
    std::printf("%s\n", report.dump(2).c_str());
  } else {
    std::printf("%s", bench::format_e2e_report(report).c_str());
  }
  return 0;
}

const bool registered = register_command(
    "bench",
    "Time and measure one SD1.5 or SDXL IP-Adapter generation (random full-size models by "
    "default)",
    [](CLI::App& sub) {
      auto o = std::make_shared<BenchCliOptions>();
      bench::E2EBenchOptions& b = o->bench;
      sub.add_option("--base", b.base,
                     "Diffusers SD1.5 or SDXL folder (default: random-weight models from "
                     "--configs)");
      sub.add_option("--arch", b.arch,
                     "Random models: sd15 (ViT-H, ip-adapter_sd15) or sdxl "
                     "(ViT-bigG, ip-adapter_sdxl)")
          ->capture_default_str()
          ->check(CLI::IsMember({"sd15", "sdxl"}));
      sub.add_option("--ip-adapter", b.ip_adapter, "IP-Adapter file (with --base)");
      sub.add_option("--image-encoder", b.image_encoder, "CLIP vision folder (with --base)");
      sub.add_option("--configs", b.configs_dir,
                     "Config folder for the random models (default: the repository's configs/)");
      sub.add_option("--cache", b.cache_dir,
                     "Where the random models are written once (default: "
                     "$XDG_CACHE_HOME/ipadapter-bench or ~/.cache/ipadapter-bench)");
      sub.add_option("--adapter-variant", b.adapter_variant, "Random adapter: basic or plus")
          ->capture_default_str()
          ->check(CLI::IsMember({"basic", "plus"}));
      o->controlnet_option =
          sub.add_option("--controlnet", b.controlnet_path,
                         "ControlNet folder or file (with --base); without --base, a random "
                         "full-size ControlNet from configs/controlnet_<arch>/")
              ->expected(0, 1);
      sub.add_option("--lora", b.lora, "LoRA file merged at load (weight 1)");
      sub.add_option("--random-lora", b.lora_rank,
                     "A random LoRA of this rank on every linear / conv layer of the UNet and "
                     "text encoders (written once into --cache), merged at load");
      sub.add_option("--image", b.image, "Reference image (default: a generated test pattern)");
      sub.add_option("--sampler", o->sampler,
                     "Sampler, as generate's (default: the base model's scheduler)");
      o->cfg_option =
          sub.add_option("--cfg", o->cfg,
                         "Guidance scale (default: the model's; 1 or less = one UNet batch, e.g. "
                         "for lcm)");
      sub.add_option("--width", b.width, "Width in pixels (default: the model's, 512 / 1024)");
      sub.add_option("--height", b.height, "Height in pixels (default: the model's)");
      sub.add_option("--steps", b.steps, "Sampling steps")
          ->capture_default_str()
          ->check(CLI::Range(1, 1000));
      sub.add_option("--overhead-reps", b.overhead_reps,
                     "UNet forwards with and without image tokens, each (best is kept)")
          ->capture_default_str()
          ->check(CLI::Range(1, 100));
      sub.add_option("--seed", b.seed, "Seed of the random weights and the noise")
          ->capture_default_str();
      add_compute_options(sub, o->compute);
      sub.add_option("--peak-seconds", b.peak_run_s, "Length of each FMA peak run")
          ->capture_default_str();
      sub.add_flag("--keep-models", b.keep_models,
                   "Keep every model loaded throughout (a server's memory) instead of the "
                   "one-shot `generate` flow");
      sub.add_flag("--json", o->json, "Print one JSON object instead of the table");
      return [o] { return run_bench(*o); };
    });

}  // namespace
}  // namespace ipa::cli
