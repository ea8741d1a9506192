// The UNet's down, mid and up blocks (diffusers DownBlock2D / CrossAttnDownBlock2D,
// UNetMidBlock2DCrossAttn / UNetMidBlock2D, UpBlock2D / CrossAttnUpBlock2D) with their
// Downsample2D (3×3 conv, stride 2) and Upsample2D (nearest to a target size, then 3×3 conv).
#pragma once
#include <vector>

#include "models/unet/config.h"
#include "models/unet/resnet.h"
#include "models/unet/transformer.h"

namespace ipa::unet {

// Settings every block shares.
struct BlockCommon {
  int64_t temb_channels = 0;
  int norm_groups = 32;
  float norm_eps = 1e-5f;
  bool use_linear_projection = false;
  int downsample_padding = 1;
};

struct DownBlock {
  std::vector<ResnetBlock2D> resnets;
  std::vector<Transformer2DModel> attentions;  // empty for DownBlock2D
  ops::Conv2d downsampler;                     // undefined weight when the block keeps the size

  static DownBlock load(const WeightScope& ws, const BlockSpec& spec, const BlockCommon& common);
  // Appends the output of every layer (and of the downsampler) to `skips`.
  Tensor forward(const Tensor& x, const Tensor& temb_act, const CrossContext& ctx,
                 std::vector<Tensor>* skips) const;
  // forward() on shapes: plans the convolutions (ops::Conv2d::prepare), appends the skips'
  // shapes, returns the output shape.
  Shape prepare(const Shape& x, std::vector<Shape>* skips) const;
};

struct MidBlock {
  std::vector<ResnetBlock2D> resnets;  // resnets[0], then one after each attention
  std::vector<Transformer2DModel> attentions;

  static MidBlock load(const WeightScope& ws, const MidSpec& spec, const BlockCommon& common,
                       float output_scale_factor);
  Tensor forward(const Tensor& x, const Tensor& temb_act, const CrossContext& ctx) const;
  Shape prepare(const Shape& x) const;  // forward() on shapes (the attentions keep them)
};

struct UpBlock {
  std::vector<ResnetBlock2D> resnets;
  std::vector<Transformer2DModel> attentions;  // empty for UpBlock2D
  ops::Conv2d upsampler;                       // undefined weight for the last block

  static UpBlock load(const WeightScope& ws, const BlockSpec& spec, const BlockCommon& common);
  size_t num_skips() const { return resnets.size(); }
  // Consumes resnets.size() entries from the back of `skips` (concatenated on channels before
  // each resnet). When the block upsamples, it resizes to `upsample_hw` — the spatial size of
  // the next skip, so odd latent sizes come back to the size they had on the way down.
  Tensor forward(const Tensor& x, const Tensor& temb_act, const CrossContext& ctx,
                 std::vector<Tensor>* skips, std::pair<int64_t, int64_t> upsample_hw) const;
  Shape prepare(const Shape& x, std::vector<Shape>* skips,
                std::pair<int64_t, int64_t> upsample_hw) const;  // forward() on shapes
};

}  // namespace ipa::unet
