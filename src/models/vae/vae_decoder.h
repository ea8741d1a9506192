// AutoencoderKL's Decoder: z [B, latent, h, w] (after post_quant_conv) → image
// [B, out, h·f, w·f], f = 2^(blocks − 1).
#pragma once
#include <optional>
#include <vector>

#include "models/vae/vae_blocks.h"
#include "models/vae/vae_config.h"

namespace ipa::vae {

class VaeDecoder {
 public:
  // Weights under `ws` = the checkpoint's `decoder.` scope.
  VaeDecoder(const VaeConfig& config, const WeightScope& ws);
  Tensor operator()(const Tensor& z) const;
  // Plans the convolutions for z of shape [B, latent, h, w] (ops::Conv2d::prepare).
  void prepare(const Shape& z) const;

 private:
  struct UpBlock {
    ResnetStack resnets;               // layers_per_block + 1 resnets
    std::optional<Upsample> upsample;  // all but the last block
  };
  ops::Conv2d conv_in_;
  MidBlock mid_block_;
  std::vector<UpBlock> up_blocks_;
  ops::GroupNorm conv_norm_out_;
  ops::Conv2d conv_out_;
};

}  // namespace ipa::vae
