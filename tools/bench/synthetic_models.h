// Full-size (or any-size) SD1.5 or SDXL + IP-Adapter checkpoints with random weights, built
// from real configs and written once into a cache folder in the real layouts (diffusers base
// folder; h94/IP-Adapter `models/` or `sdxl_models/` with `image_encoder/`), so that benchmarks
// load them through the normal engine path (mmap'd F16 safetensors → F32/BF16 models).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace ipa::bench {

struct SyntheticModelsSpec {
  // Holds <arch>/{model_index.json, unet/, vae/, text_encoder/, [text_encoder_2/,] scheduler/}
  // configs and image_encoder_vit-h/ and image_encoder_vit-bigg/ (the repository's configs/).
  std::string configs_dir;
  std::string cache_dir;
  std::string arch = "sd15";  // "sd15" or "sdxl"
  // "basic" (ip-adapter_sd15 with ViT-H; ip-adapter_sdxl with ViT-bigG) or "plus"
  // (ip-adapter-plus_sd15 / ip-adapter-plus_sdxl_vit-h, both with ViT-H).
  std::string adapter_variant = "basic";
  // Also a ControlNet from controlnet_<arch>/config.json (a diffusers folder).
  bool controlnet = false;
  uint64_t seed = 0;
};

struct SyntheticModels {
  std::string root;           // cache_dir/<name derived from the configs and seed>
  std::string base;           // diffusers folder
  std::string ip_adapter;     // .safetensors in the h94 layout
  std::string image_encoder;  // beside the adapter
  std::string reference_image;
  std::string controlnet;  // folder, when asked for
  bool generated = false;  // some file was written in this call
};

// Writes what is missing (each file atomically), returns the paths. `log` gets progress lines.
SyntheticModels ensure_synthetic_models(const SyntheticModelsSpec& spec,
                                        const std::function<void(const std::string&)>& log = {});

// A 256x256 test pattern PNG in `dir` (written once); returns its path.
std::string ensure_reference_image(const std::string& dir);

// The default cache folder: $XDG_CACHE_HOME/ipadapter-bench, else ~/.cache/ipadapter-bench.
std::string default_cache_dir();

}  // namespace ipa::bench
