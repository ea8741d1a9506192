#include "models/vae/vae_blocks.h"

#include <cmath>

#include "models/common/load_layers.h"
#include "models/vae/vae_config.h"

namespace ipa::vae {

namespace {
constexpr float kEps = VaeConfig::kNormEps;

ops::Conv2d load_conv3x3(const WeightScope& ws, const std::string& name, int64_t in, int64_t out) {
  return load_conv2d(ws, name, in, out, 3, ops::Conv2dParams::same(1, 1));
}
}  // namespace

// ---- ResnetBlock --------------------------------------------------------------------------

ResnetBlock ResnetBlock::load(const WeightScope& ws, int64_t in, int64_t out, int groups) {
  ResnetBlock r;
  r.norm1 = load_group_norm(ws, "norm1", in, groups, kEps);
  r.conv1 = load_conv3x3(ws, "conv1", in, out);
  r.norm2 = load_group_norm(ws, "norm2", out, groups, kEps);
  r.conv2 = load_conv3x3(ws, "conv2", out, out);
  if (in != out)
    r.conv_shortcut = load_conv2d(ws, "conv_shortcut", in, out, 1, ops::Conv2dParams{});
  return r;
}

Tensor ResnetBlock::operator()(const Tensor& x) const {
  Tensor h = conv1(norm1(x, /*fuse_silu=*/true));
  h = conv2(norm2(h, /*fuse_silu=*/true));  // dropout is identity at inference
  // output_scale_factor is 1 everywhere in AutoencoderKL.
  if (conv_shortcut) return ops::add((*conv_shortcut)(x), h);
  return ops::add(x, h);
}

// ---- MidAttention -------------------------------------------------------------------------

namespace {

struct Projection {
  Tensor weight, bias;
};

// A [C, C] projection under its current or its pre-0.14 diffusers name; [C, C, 1, 1]
// (1x1-conv form) is accepted as well.
Projection load_projection(const WeightScope& ws, const std::string& name,
                           const std::string& legacy, int64_t channels) {
  const std::string key = ws.has(name + ".weight") || !ws.has(legacy + ".weight") ? name : legacy;
  const Shape conv_shape{channels, channels, 1, 1};
  const Tensor w = ws.has(key + ".weight") && ws.shape_of(key + ".weight") == conv_shape
                       ? ws.get_f32(key + ".weight", conv_shape).reshape({channels, channels})
                       : ws.get_f32(key + ".weight", {channels, channels});
  return {w, ws.get_f32(key + ".bias", {channels})};
}

}  // namespace

MidAttention MidAttention::load(const WeightScope& ws, int64_t channels, int groups) {
  MidAttention a;
  a.channels = channels;
  a.group_norm = load_group_norm(ws, "group_norm", channels, groups, kEps);
  // q, k and v as one projection, concatenated before the layer packs them.
  const Projection q = load_projection(ws, "to_q", "query", channels);
  const Projection k = load_projection(ws, "to_k", "key", channels);
  const Projection v = load_projection(ws, "to_v", "value", channels);
  a.qkv = ops::Linear(ops::concat({q.weight, k.weight, v.weight}, 0),
                      ops::concat({q.bias, k.bias, v.bias}, 0));
  const Projection out = load_projection(ws, "to_out.0", "proj_attn", channels);
  a.to_out = ops::Linear(out.weight, out.bias);
  return a;
}

Tensor MidAttention::operator()(const Tensor& x) const {
  const int64_t B = x.size(0), C = channels, H = x.size(2), W = x.size(3);
  // [B, C, H, W] → tokens [B, H·W, C]: a view of a channels-last x's storage, else a transpose.
  const bool channels_last = ops::is_channels_last(x);
  const Tensor normed = group_norm(x);  // keeps x's layout
  const Tensor tokens = channels_last ? normed.permute({0, 2, 3, 1}).reshape({B, H * W, C})
                                      : normed.reshape({B, C, H * W}).transpose(1, 2);
  const Tensor qkv = this->qkv(tokens);
  const Tensor attn =
      ops::attention(qkv.narrow(2, 0, C), qkv.narrow(2, C, C), qkv.narrow(2, 2 * C, C), /*heads=*/1,
                     1.f / std::sqrt(static_cast<float>(C)));
  // Back to [B, C, H, W] in x's layout; residual added, rescale_output_factor is 1 in
  // AutoencoderKL.
  const Tensor projected = to_out(attn);
  const Tensor out = channels_last ? projected.reshape({B, H, W, C}).permute({0, 3, 1, 2})
                                   : ops::permute(projected, {0, 2, 1}).reshape({B, C, H, W});
  return ops::add(out, x);
}

// ---- MidBlock -----------------------------------------------------------------------------

MidBlock MidBlock::load(const WeightScope& ws, int64_t channels, int groups, bool add_attention) {
  MidBlock m;
  m.resnet0 = ResnetBlock::load(ws.scope("resnets.0"), channels, channels, groups);
  if (add_attention) m.attention = MidAttention::load(ws.scope("attentions.0"), channels, groups);
  m.resnet1 = ResnetBlock::load(ws.scope("resnets.1"), channels, channels, groups);
  return m;
}

Tensor MidBlock::operator()(const Tensor& x) const {
  Tensor h = resnet0(x);
  if (attention) h = (*attention)(h);
  return resnet1(h);
}

// ---- Downsample / Upsample ----------------------------------------------------------------

Downsample Downsample::load(const WeightScope& ws, int64_t channels) {
  ops::Conv2dParams p;
  p.stride_h = p.stride_w = 2;
  p.pad_bottom = p.pad_right = 1;  // diffusers pads (left 0, right 1, top 0, bottom 1)
  return {load_conv2d(ws, "conv", channels, channels, 3, p)};
}

Upsample Upsample::load(const WeightScope& ws, int64_t channels) {
  return {load_conv3x3(ws, "conv", channels, channels)};
}

Tensor Upsample::operator()(const Tensor& x) const {
  return conv(ops::upsample_nearest(x, 2 * x.size(2), 2 * x.size(3)));
}

// ---- ResnetStack --------------------------------------------------------------------------

ResnetStack ResnetStack::load(const WeightScope& ws, int64_t count, int64_t in, int64_t out,
                              int groups) {
  ResnetStack s;
  for (int64_t i = 0; i < count; ++i) {
    s.resnets.push_back(ResnetBlock::load(ws.scope("resnets." + std::to_string(i)),
                                          i == 0 ? in : out, out, groups));
  }
  return s;
}

Tensor ResnetStack::operator()(Tensor x) const {
  for (const auto& r : resnets) x = r(x);
  return x;
}

// ---- prepare: operator() on shapes ----------------------------------------------------

Shape ResnetBlock::prepare(const Shape& x) const {
  const Shape h = conv2.prepare(conv1.prepare(x));
  if (conv_shortcut) conv_shortcut->prepare(x);
  return h;
}

Shape MidBlock::prepare(const Shape& x) const {
  return resnet1.prepare(resnet0.prepare(x));
}

Shape Upsample::prepare(const Shape& x) const {
  return conv.prepare({x[0], x[1], 2 * x[2], 2 * x[3]});
}

Shape ResnetStack::prepare(Shape x) const {
  for (const auto& r : resnets) x = r.prepare(x);
  return x;
}

}  // namespace ipa::vae
