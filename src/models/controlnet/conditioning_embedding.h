// ControlNet's control-image encoder (diffusers ControlNetConditioningEmbedding):
//   x = SiLU(conv_in(image))                      conditioning_channels → c[0]
//   per i ≥ 1: x = SiLU(blocks[2i-2](x))          c[i-1] → c[i-1], 3×3
//              x = SiLU(blocks[2i-1](x))          c[i-1] → c[i], 3×3 stride 2
//   out = conv_out(x)                             c[-1] → block_out_channels[0] (zero conv)
// The output has the latents' size and is added to conv_in(latents).
#pragma once
#include <vector>

#include "models/controlnet/controlnet_config.h"
#include "ops/layers.h"
#include "weights/weight_store.h"

namespace ipa::controlnet {

struct ConditioningEmbedding {
  ops::Conv2d conv_in;
  std::vector<ops::Conv2d> blocks;
  ops::Conv2d conv_out;

  // Weights under `ws` (controlnet_cond_embedding).
  static ConditioningEmbedding load(const WeightScope& ws, const ControlNetConfig& config);
  // image [B, conditioning_channels, H, W] → [B, block_out_channels[0], H / s, W / s]
  // (s = ControlNetConfig::image_scale(), rounding like the stride-2 convolutions).
  Tensor forward(const Tensor& image) const;
};

}  // namespace ipa::controlnet
