// A random LoRA for a diffusers base folder, for benchmarking the merge at load: one low-rank
// pair (kohya names, rank R, F16, no alpha = scale 1) on every linear and convolution weight of
// the UNet and the text encoders — the worst case (kohya's LoCon "all layers"); typical LoRAs
// adapt only the attention and feed-forward layers.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace ipa::bench {

// Written once into `cache_dir` (a name from the base path, rank and seed); returns its path.
std::string ensure_random_lora(const std::string& base_dir, const std::string& cache_dir, int rank,
                               uint64_t seed,
                               const std::function<void(const std::string&)>& log = {});

}  // namespace ipa::bench
