#include "models/controlnet/ldm_controlnet_names.h"

#include <algorithm>

#include "models/unet/ldm_layout.h"

namespace ipa::controlnet {

std::optional<std::string> ldm_controlnet_prefix(const std::vector<std::string>& keys) {
  const auto has = [&](const std::string& k) {
    return std::find(keys.begin(), keys.end(), k) != keys.end();
  };
  const auto any_under = [&](const std::string& prefix) {
    return std::any_of(keys.begin(), keys.end(),
                       [&](const std::string& k) { return k.rfind(prefix, 0) == 0; });
  };
  if (any_under("control_model.")) return std::string("control_model.");
  if (has("time_embed.0.weight") || has("input_hint_block.0.weight")) return std::string();
  return std::nullopt;
}

LdmUNetNames ldm_controlnet_names(const ControlNetConfig& config) {
  LdmUNetNames names(unet::ldm_unet_layout(config.unet, /*up_path=*/false));
  const size_t skips = skip_channels(config.unet).size();
  for (size_t k = 0; k < skips; ++k) {
    names.add("zero_convs." + std::to_string(k) + ".0.",
              "controlnet_down_blocks." + std::to_string(k) + ".");
  }
  names.add("middle_block_out.0.", "controlnet_mid_block.");
  names.add("input_hint_block.0.", "controlnet_cond_embedding.conv_in.");
  const size_t blocks = 2 * (config.conditioning_embedding_out_channels.size() - 1);
  for (size_t m = 0; m < blocks; ++m) {
    names.add("input_hint_block." + std::to_string(2 * (m + 1)) + ".",
              "controlnet_cond_embedding.blocks." + std::to_string(m) + ".");
  }
  names.add("input_hint_block." + std::to_string(2 * (blocks + 1)) + ".",
            "controlnet_cond_embedding.conv_out.");
  return names;
}

}  // namespace ipa::controlnet
