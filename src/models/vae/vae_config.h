// diffusers AutoencoderKL configuration (vae/config.json).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ipa::vae {

struct VaeConfig {
  // Missing keys take diffusers' AutoencoderKL defaults.
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t latent_channels = 4;
  std::vector<int64_t> block_out_channels = {64};
  int64_t layers_per_block = 1;
  int norm_num_groups = 32;
  std::string act_fn = "silu";
  float scaling_factor = 0.18215f;
  bool has_shift_factor = false;  // shift_factor is null for SD1.5 / SDXL
  float shift_factor = 0.f;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
  // Image side the VAE was trained on; diffusers' tiling uses it as the tile size
  // (tile_sample_min_size; a [h, w] list counts by its first entry, as diffusers reads it).
  int64_t sample_size = 32;
  // diffusers builds every norm inside the VAE blocks with this eps.
  static constexpr float kNormEps = 1e-6f;

  int64_t num_blocks() const { return static_cast<int64_t>(block_out_channels.size()); }
  // Pixels per latent along each side: 2^(blocks − 1) (8 for SD).
  int64_t downscale_factor() const { return int64_t{1} << (num_blocks() - 1); }
  // diffusers' tile_latent_min_size: int(sample_size / 2^(blocks − 1)).
  int64_t tile_latent_size() const { return sample_size / downscale_factor(); }

  static VaeConfig from_json(const nlohmann::json& j, const std::string& path);
  static VaeConfig from_file(const std::string& path);
};

}  // namespace ipa::vae
