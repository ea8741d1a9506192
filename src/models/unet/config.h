// UNet2DConditionModel configuration: `unet/config.json` read the way diffusers 0.30.3 reads it
// (same defaults, same list/int conventions), then resolved into per-block specs so the model
// code never re-derives channel counts.
//
// Naming trap kept from diffusers: in these configs `attention_head_dim` is the number of heads
// (diffusers sets num_attention_heads = attention_head_dim and refuses `num_attention_heads`);
// each block's head size is its channel count // heads.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ipa::unet {

// One down or up block, resolved.
struct BlockSpec {
  std::string type;  // "DownBlock2D", "CrossAttnDownBlock2D", "UpBlock2D", ...
  bool has_attention = false;
  int num_layers = 0;       // resnets (and attentions when has_attention)
  int64_t in_channels = 0;  // down: block input; up: channels of the deepest skip it consumes
  int64_t out_channels = 0;
  int64_t prev_output_channel = 0;      // up blocks: channels coming from below
  bool add_sample = false;              // down: Downsample2D at the end; up: Upsample2D at the end
  std::vector<int> transformer_layers;  // per layer (has_attention only)
  int heads = 0;
  int64_t cross_attention_dim = 0;
};

struct MidSpec {
  std::string type;  // "UNetMidBlock2DCrossAttn", "UNetMidBlock2D" or "" (no mid block)
  int64_t channels = 0;
  int num_layers = 0;  // attention+resnet pairs after the first resnet
  std::vector<int> transformer_layers;
  int heads = 0;
  int64_t cross_attention_dim = 0;
};

struct UNetConfig {
  std::string source;  // file the config came from (for error messages)

  // Latent side the model was trained at (pipelines default to sample_size × the VAE factor);
  // 0 when the config does not say.
  int64_t sample_size = 0;
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  bool center_input_sample = false;
  bool flip_sin_to_cos = true;
  float freq_shift = 0.f;
  std::vector<int64_t> block_out_channels;
  int downsample_padding = 1;
  float mid_block_scale_factor = 1.f;
  int norm_num_groups = 32;
  float norm_eps = 1e-5f;
  bool use_linear_projection = false;
  bool upcast_attention = false;  // no effect: attention always accumulates in f32 here
  int conv_in_kernel = 3;
  int conv_out_kernel = 3;

  // Time embedding: sinusoidal(block_out_channels[0]) → linear → SiLU → linear.
  int64_t time_proj_dim = 0;   // = block_out_channels[0]
  int64_t time_embed_dim = 0;  // time_embedding_dim or 4·block_out_channels[0]

  // addition_embed_type "text_time" (SDXL): add_embedding(cat(text_embeds, sinusoidal(time_ids)))
  bool text_time = false;
  int64_t addition_time_embed_dim = 0;
  int64_t projection_class_embeddings_input_dim = 0;

  std::vector<BlockSpec> down_blocks;
  MidSpec mid;
  std::vector<BlockSpec> up_blocks;

  // The cross-attention dim every attn2 expects (blocks may differ when the config lists one per
  // block; then this is the first block's).
  int64_t cross_attention_dim = 0;
  bool cross_attention_dim_per_block = false;
};

// Parses and validates; unsupported options (dual_cross_attention, class embeddings, other
// block types, resnet_time_scale_shift other than "default", ...) throw ipa::Error naming the
// key. `source` labels error messages.
UNetConfig parse_unet_config(const nlohmann::json& j, const std::string& source);
UNetConfig load_unet_config(const std::string& path);

}  // namespace ipa::unet
