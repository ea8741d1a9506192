#include "models/controlnet/controlnet_config.h"

#include <filesystem>

#include "base/error.h"
#include "formats/json_file.h"

namespace ipa::controlnet {

namespace {

using nlohmann::json;

// The UNet keys ControlNetModel.__init__ takes; any other UNet key in a ControlNet config
// (sample_size, conv_in_kernel, ...) is ignored by diffusers, so it must not reach the UNet
// parser either.
constexpr const char* kUNetKeys[] = {
    "in_channels",
    "flip_sin_to_cos",
    "freq_shift",
    "down_block_types",
    "mid_block_type",
    "only_cross_attention",
    "block_out_channels",
    "layers_per_block",
    "downsample_padding",
    "mid_block_scale_factor",
    "act_fn",
    "norm_num_groups",
    "norm_eps",
    "cross_attention_dim",
    "transformer_layers_per_block",
    "encoder_hid_dim",
    "encoder_hid_dim_type",
    "attention_head_dim",
    "use_linear_projection",
    "class_embed_type",
    "addition_embed_type",
    "addition_time_embed_dim",
    "num_class_embeds",
    "upcast_attention",
    "resnet_time_scale_shift",
    "projection_class_embeddings_input_dim",
};

std::string fail(const std::string& key, const std::string& what) {
  return "config key '" + key + "': " + what;
}

// The up block a down block type mirrors; only there to satisfy the UNet parser, which
// checks the up path too (ControlNet has none).
std::string mirror(const json& down_type) {
  return down_type.is_string() &&
                 down_type.get<std::string>().find("CrossAttn") != std::string::npos
             ? "CrossAttnUpBlock2D"
             : "UpBlock2D";
}

}  // namespace

int64_t ControlNetConfig::image_scale() const {
  return int64_t{1} << (conditioning_embedding_out_channels.size() - 1);
}

ControlNetConfig parse_controlnet_config(const json& j, const std::string& source) {
  if (!j.is_object()) throw Error("ControlNet config must be a JSON object", source);
  ControlNetConfig c;
  c.source = source;

  const auto cls = json_value<std::string>(j, "_class_name", "ControlNetModel", source);
  if (cls != "ControlNetModel") {
    throw Error(fail("_class_name", "expected ControlNetModel, got " + cls), source);
  }
  const auto order =
      json_value<std::string>(j, "controlnet_conditioning_channel_order", "rgb", source);
  if (order != "rgb") {
    throw Error(fail("controlnet_conditioning_channel_order",
                     "'" + order + "' is not supported (only \"rgb\")"),
                source);
  }
  c.conditioning_channels = json_value<int64_t>(j, "conditioning_channels", 3, source);
  require_positive("conditioning_channels", c.conditioning_channels, source);
  c.conditioning_embedding_out_channels = json_value<std::vector<int64_t>>(
      j, "conditioning_embedding_out_channels", {16, 32, 96, 256}, source);
  if (c.conditioning_embedding_out_channels.empty()) {
    throw Error(fail("conditioning_embedding_out_channels", "must not be empty"), source);
  }
  if (c.conditioning_embedding_out_channels.size() > 16) {
    throw Error(fail("conditioning_embedding_out_channels", "has too many entries"), source);
  }
  for (int64_t ch : c.conditioning_embedding_out_channels) {
    require_positive("conditioning_embedding_out_channels", ch, source);
  }
  c.global_pool_conditions = json_value<bool>(j, "global_pool_conditions", false, source);

  // The UNet part, read by the UNet's parser.
  json u = json::object();
  for (const char* key : kUNetKeys) {
    if (j.contains(key)) u[key] = j.at(key);
  }
  // diffusers: num_attention_heads = num_attention_heads or attention_head_dim (the head
  // count; CrossAttnDownBlock2D ignores attention_head_dim once heads are known).
  if (j.contains("num_attention_heads") && !j.at("num_attention_heads").is_null()) {
    u["attention_head_dim"] = j.at("num_attention_heads");
  }
  if (j.contains("mid_block_type") && j.at("mid_block_type").is_null()) {
    throw Error(fail("mid_block_type", "null is not supported by ControlNetModel"), source);
  }
  u["_class_name"] = "UNet2DConditionModel";
  json down = u.contains("down_block_types")
                  ? u["down_block_types"]
                  : json::array({"CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                 "CrossAttnDownBlock2D", "DownBlock2D"});
  json up = json::array();
  if (down.is_array()) {
    for (auto it = down.rbegin(); it != down.rend(); ++it) up.push_back(mirror(*it));
  }
  u["up_block_types"] = up;
  c.unet = unet::parse_unet_config(u, source);
  c.unet.up_blocks.clear();
  return c;
}

ControlNetConfig load_controlnet_config(const std::string& path) {
  const std::string file = std::filesystem::is_directory(path)
                               ? (std::filesystem::path(path) / "config.json").string()
                               : path;
  if (!std::filesystem::is_regular_file(file)) {
    throw Error("ControlNet config.json not found", file);
  }
  return parse_controlnet_config(read_json_file(file), file);
}

std::vector<int64_t> skip_channels(const unet::UNetConfig& config) {
  std::vector<int64_t> out{config.block_out_channels.at(0)};
  for (const auto& b : config.down_blocks) {
    for (int i = 0; i < b.num_layers; ++i) out.push_back(b.out_channels);
    if (b.add_sample) out.push_back(b.out_channels);
  }
  return out;
}

namespace {

std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string family(const unet::UNetConfig& c) {
  return c.text_time ? "SDXL-type (text_time conditioning, cross_attention_dim " +
                           std::to_string(c.cross_attention_dim) + ")"
                     : "SD1.5-type (no added conditioning, cross_attention_dim " +
                           std::to_string(c.cross_attention_dim) + ")";
}

}  // namespace

void check_compatible(const ControlNetConfig& cn, const unet::UNetConfig& u) {
  const unet::UNetConfig& c = cn.unet;
  const std::string head =
      "ControlNet " + cn.source + " cannot be used with the UNet " + u.source + ": ";
  if (c.text_time != u.text_time || c.cross_attention_dim != u.cross_attention_dim) {
    throw Error(head + "it is for another model family: the ControlNet is " + family(c) +
                ", the UNet is " + family(u));
  }
  if (c.text_time &&
      (c.addition_time_embed_dim != u.addition_time_embed_dim ||
       c.projection_class_embeddings_input_dim != u.projection_class_embeddings_input_dim)) {
    throw Error(head + "its text_time conditioning differs (addition_time_embed_dim " +
                std::to_string(c.addition_time_embed_dim) +
                ", projection_class_embeddings_input_dim " +
                std::to_string(c.projection_class_embeddings_input_dim) + " vs the UNet's " +
                std::to_string(u.addition_time_embed_dim) + ", " +
                std::to_string(u.projection_class_embeddings_input_dim) + ")");
  }
  // The ControlNet reads the latents (the UNet's output channels; an inpainting UNet takes
  // more input channels than that).
  if (c.in_channels != u.out_channels) {
    throw Error(head + "the ControlNet takes " + std::to_string(c.in_channels) +
                " latent channels (in_channels) but the UNet's latents have " +
                std::to_string(u.out_channels));
  }
  const auto mine = skip_channels(c), theirs = skip_channels(u);
  if (mine != theirs) {
    throw Error(head + "the ControlNet gives residuals with channels " + list_str(mine) +
                " but the UNet's skip connections have " + list_str(theirs));
  }
  if (c.mid.type.empty() != u.mid.type.empty() || c.mid.channels != u.mid.channels) {
    throw Error(head + "the mid blocks differ (" + std::to_string(c.mid.channels) + " vs " +
                std::to_string(u.mid.channels) + " channels)");
  }
}

}  // namespace ipa::controlnet
