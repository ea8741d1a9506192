// ResnetBlock2D (diffusers, time_embedding_norm "default", no up/down sampling inside):
//   h = conv1(SiLU(GN1(x))) + time_emb_proj(SiLU(temb))[:, :, None, None]
//   h = conv2(SiLU(GN2(h)))            (dropout is inference-time identity)
//   out = (shortcut(x) + h) / output_scale_factor, shortcut = 1×1 conv when channels change.
#pragma once
#include "ops/layers.h"
#include "weights/weight_store.h"

namespace ipa::unet {

struct ResnetBlock2D {
  ops::GroupNorm norm1, norm2;
  ops::Conv2d conv1, conv2;
  ops::Linear time_emb_proj;
  ops::Conv2d conv_shortcut;  // weight undefined when in == out channels
  float output_scale_factor = 1.f;

  // Weights under `ws` (e.g. "down_blocks.0.resnets.1").
  static ResnetBlock2D load(const WeightScope& ws, int64_t in_channels, int64_t out_channels,
                            int64_t temb_channels, int groups, float eps,
                            float output_scale_factor);

  // x [B, in, H, W]; temb_act = SiLU(time embedding) [B, temb_channels] (shared by all resnets,
  // so the UNet applies the SiLU once).
  Tensor forward(const Tensor& x, const Tensor& temb_act) const;
  // Plans the convolutions for x of shape `x` (ops::Conv2d::prepare); returns the output shape.
  Shape prepare(const Shape& x) const;
};

}  // namespace ipa::unet
