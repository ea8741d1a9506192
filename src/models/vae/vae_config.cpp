#include "models/vae/vae_config.h"

#include "formats/json_file.h"

namespace ipa::vae {

namespace {

// Every entry of a block-type list must be `expected`: the only kinds AutoencoderKL uses.
size_t check_block_types(const nlohmann::json& j, const std::string& key,
                         const std::string& expected, size_t fallback_count,
                         const std::string& path) {
  const auto types = json_value<std::vector<std::string>>(
      j, key, std::vector<std::string>(fallback_count, expected), path);
  for (const auto& t : types) {
    if (t != expected) {
      throw Error("config key '" + key + "': unsupported block type '" + t + "' (only " + expected +
                      " is supported)",
                  path);
    }
  }
  return types.size();
}

}  // namespace

VaeConfig VaeConfig::from_json(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) throw Error("config is not a JSON object", path);
  const std::string cls = json_value<std::string>(j, "_class_name", "AutoencoderKL", path);
  if (cls != "AutoencoderKL") {
    throw Error("config: _class_name is '" + cls + "', expected AutoencoderKL", path);
  }
  VaeConfig c;
  c.in_channels = json_value<int64_t>(j, "in_channels", c.in_channels, path);
  c.out_channels = json_value<int64_t>(j, "out_channels", c.out_channels, path);
  c.latent_channels = json_value<int64_t>(j, "latent_channels", c.latent_channels, path);
  c.block_out_channels =
      json_value<std::vector<int64_t>>(j, "block_out_channels", c.block_out_channels, path);
  c.layers_per_block = json_value<int64_t>(j, "layers_per_block", c.layers_per_block, path);
  c.norm_num_groups = json_value<int>(j, "norm_num_groups", c.norm_num_groups, path);
  c.act_fn = json_value<std::string>(j, "act_fn", c.act_fn, path);
  c.scaling_factor = static_cast<float>(
      json_value<double>(j, "scaling_factor", static_cast<double>(c.scaling_factor), path));
  if (j.contains("shift_factor") && !j["shift_factor"].is_null()) {
    c.has_shift_factor = true;
    c.shift_factor = static_cast<float>(json_require<double>(j, "shift_factor", path));
  }
  c.use_quant_conv = json_value<bool>(j, "use_quant_conv", c.use_quant_conv, path);
  c.use_post_quant_conv = json_value<bool>(j, "use_post_quant_conv", c.use_post_quant_conv, path);
  c.mid_block_add_attention =
      json_value<bool>(j, "mid_block_add_attention", c.mid_block_add_attention, path);
  if (j.contains("sample_size") && j["sample_size"].is_array()) {
    const auto sizes = json_require<std::vector<int64_t>>(j, "sample_size", path);
    if (sizes.empty()) throw Error("config key 'sample_size' must not be an empty list", path);
    c.sample_size = sizes.front();
  } else {
    c.sample_size = json_value<int64_t>(j, "sample_size", c.sample_size, path);
  }

  if (c.act_fn != "silu" && c.act_fn != "swish") {
    throw Error("config key 'act_fn': unsupported activation '" + c.act_fn + "' (supported: silu)",
                path);
  }
  if (c.block_out_channels.empty()) {
    throw Error("config key 'block_out_channels' must not be empty", path);
  }
  const size_t n = c.block_out_channels.size();
  const size_t downs = check_block_types(j, "down_block_types", "DownEncoderBlock2D", n, path);
  const size_t ups = check_block_types(j, "up_block_types", "UpDecoderBlock2D", n, path);
  if (downs != n || ups != n) {
    throw Error("config: block_out_channels has " + std::to_string(n) +
                    " entries but down_block_types has " + std::to_string(downs) +
                    " and up_block_types " + std::to_string(ups),
                path);
  }
  require_positive("in_channels", c.in_channels, path);
  require_positive("out_channels", c.out_channels, path);
  require_positive("latent_channels", c.latent_channels, path);
  require_positive("layers_per_block", c.layers_per_block, path);
  require_positive("norm_num_groups", c.norm_num_groups, path);
  require_positive("sample_size", c.sample_size, path);
  for (int64_t ch : c.block_out_channels) {
    require_positive("block_out_channels", ch, path);
    if (ch % c.norm_num_groups != 0) {
      throw Error("config: block_out_channels entry " + std::to_string(ch) +
                      " is not divisible by norm_num_groups " + std::to_string(c.norm_num_groups),
                  path);
    }
  }
  if (c.scaling_factor == 0.f) throw Error("config key 'scaling_factor' must not be 0", path);
  return c;
}

VaeConfig VaeConfig::from_file(const std::string& path) {
  return from_json(read_json_file(path), path);
}

}  // namespace ipa::vae
