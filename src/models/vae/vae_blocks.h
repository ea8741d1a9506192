// The building blocks shared by the AutoencoderKL encoder and decoder (diffusers names):
// ResnetBlock2D without time embedding, the single-head mid-block attention, the mid block,
// Downsample2D (asymmetric pad + stride-2 conv) and Upsample2D (nearest 2x + conv).
#pragma once
#include <optional>
#include <vector>

#include "ops/layers.h"
#include "weights/weight_store.h"

namespace ipa::vae {

// norm1 → SiLU → conv1 → norm2 → SiLU → conv2, plus the input (through a 1x1 conv_shortcut
// when the channel count changes).
struct ResnetBlock {
  ops::GroupNorm norm1, norm2;
  ops::Conv2d conv1, conv2;
  std::optional<ops::Conv2d> conv_shortcut;

  static ResnetBlock load(const WeightScope& ws, int64_t in, int64_t out, int groups);
  Tensor operator()(const Tensor& x) const;
  Shape prepare(const Shape& x) const;  // plans the convolutions; the output shape
};

// diffusers Attention as built for the VAE mid block: group norm, one head as wide as the
// channels, to_q/to_k/to_v/to_out.0 with bias, residual added. Runs flash-style, so a 64x64
// latent (4096 tokens) never materialises a 4096² score matrix.
struct MidAttention {
  int64_t channels = 0;
  ops::GroupNorm group_norm;
  ops::Linear qkv;  // to_q, to_k, to_v stacked: one GEMM
  ops::Linear to_out;

  // Also accepts the pre-0.14 diffusers names query/key/value/proj_attn.
  static MidAttention load(const WeightScope& ws, int64_t channels, int groups);
  Tensor operator()(const Tensor& x) const;
};

// UNetMidBlock2D without time embedding: resnet → (attention) → resnet.
struct MidBlock {
  ResnetBlock resnet0, resnet1;
  std::optional<MidAttention> attention;

  static MidBlock load(const WeightScope& ws, int64_t channels, int groups, bool add_attention);
  Tensor operator()(const Tensor& x) const;
  Shape prepare(const Shape& x) const;  // the attention keeps the shape
};

// Pads (0, 1, 0, 1) with zeros, then a 3x3 stride-2 conv: H → ceil(H / 2) for even H.
struct Downsample {
  ops::Conv2d conv;
  static Downsample load(const WeightScope& ws, int64_t channels);
  Tensor operator()(const Tensor& x) const { return conv(x); }
};

// Nearest-neighbour 2x, then a 3x3 conv.
struct Upsample {
  ops::Conv2d conv;
  static Upsample load(const WeightScope& ws, int64_t channels);
  Tensor operator()(const Tensor& x) const;
  Shape prepare(const Shape& x) const;
};

// `resnets.0 … resnets.<count-1>`: the first maps `in` to `out` channels, the rest keep `out`.
struct ResnetStack {
  std::vector<ResnetBlock> resnets;
  static ResnetStack load(const WeightScope& ws, int64_t count, int64_t in, int64_t out,
                          int groups);
  Tensor operator()(Tensor x) const;
  Shape prepare(Shape x) const;
};

}  // namespace ipa::vae
