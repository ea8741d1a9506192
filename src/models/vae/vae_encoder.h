// AutoencoderKL's Encoder: image [B, in, H, W] → moments [B, 2·latent, H/f, W/f] (before
// quant_conv), f = 2^(blocks − 1).
#pragma once
#include <optional>
#include <vector>

#include "models/vae/vae_blocks.h"
#include "models/vae/vae_config.h"

namespace ipa::vae {

class VaeEncoder {
 public:
  // Weights under `ws` = the checkpoint's `encoder.` scope.
  VaeEncoder(const VaeConfig& config, const WeightScope& ws);
  Tensor operator()(const Tensor& image) const;

 private:
  struct DownBlock {
    ResnetStack resnets;
    std::optional<Downsample> downsample;  // all but the last block
  };
  ops::Conv2d conv_in_;
  std::vector<DownBlock> down_blocks_;
  MidBlock mid_block_;
  ops::GroupNorm conv_norm_out_;
  ops::Conv2d conv_out_;
};

}  // namespace ipa::vae
