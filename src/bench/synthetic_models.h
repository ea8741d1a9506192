// Full-size (or any-size) SD1.5 + IP-Adapter checkpoints with random weights, built from real
// configs and written once into a cache folder in the real layouts (diffusers base folder;
// h94/IP-Adapter `models/` with `image_encoder/`), so that benchmarks load them through the
// normal Pipeline path (mmap'd F16 safetensors → F32 models).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace ipa::bench {

struct SyntheticModelsSpec {
  // Holds sd15/{model_index.json, unet/, vae/, text_encoder/, scheduler/} configs and
  // image_encoder_vit-h/config.json (the layout of the repository's configs/).
  std::string configs_dir;
  std::string cache_dir;
  std::string adapter_variant =
      "basic";  // "basic" (ip-adapter_sd15) or "plus" (ip-adapter-plus_sd15)
  uint64_t seed = 0;
};

struct SyntheticModels {
  std::string root;           // cache_dir/<name derived from the configs and seed>
  std::string base;           // diffusers folder
  std::string ip_adapter;     // .safetensors in the h94 layout
  std::string image_encoder;  // beside the adapter
  std::string reference_image;
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
