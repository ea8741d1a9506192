// ControlNetModel configuration (diffusers 0.30.3): `config.json` of a ControlNet folder.
// ControlNetModel copies the UNet's conv_in, time embedding, down blocks and mid block, so those
// keys are read by the UNet's parser (same defaults and checks); the ControlNet's own keys are
// conditioning_channels, conditioning_embedding_out_channels,
// controlnet_conditioning_channel_order and global_pool_conditions.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/unet/config.h"

namespace ipa::controlnet {

struct ControlNetConfig {
  std::string source;  // file the config came from (for error messages)
  // conv_in, time (and text_time) embedding, down blocks and mid block; up_blocks is empty.
  unet::UNetConfig unet;
  int64_t conditioning_channels = 3;
  // Channels of the control-image encoder (controlnet_cond_embedding): conv_in to [0], then
  // per following entry a 3×3 conv and a stride-2 conv, so the image is
  // 2^(size - 1) times larger than the latents.
  std::vector<int64_t> conditioning_embedding_out_channels{16, 32, 96, 256};
  bool global_pool_conditions = false;  // residuals averaged over H, W (shuffle ControlNets)

  // The image side / latent side ratio the conditioning embedding expects.
  int64_t image_scale() const;
};

// Parses and validates; unsupported options throw ipa::Error naming `source` and the key
// (controlnet_conditioning_channel_order other than "rgb", and everything the UNet parser
// refuses). Keys ControlNetModel does not take are ignored, as diffusers does.
ControlNetConfig parse_controlnet_config(const nlohmann::json& j, const std::string& source);
// A config.json, or a folder holding one.
ControlNetConfig load_controlnet_config(const std::string& path);

// Channels of each skip connection of a UNet (conv_in, then every down-block layer and
// downsampler): the shapes of ControlNet's down residuals.
std::vector<int64_t> skip_channels(const unet::UNetConfig& config);

// Throws ipa::Error saying what differs when a ControlNet with `controlnet` cannot be used with
// a UNet with `unet`: another model family (cross_attention_dim, text_time conditioning and
// its sizes), other latent channels, or other skip connections.
void check_compatible(const ControlNetConfig& controlnet, const unet::UNetConfig& unet);

}  // namespace ipa::controlnet
