#include "models/unet/resnet.h"

#include "models/common/load_layers.h"

namespace ipa::unet {

ResnetBlock2D ResnetBlock2D::load(const WeightScope& ws, int64_t in_channels, int64_t out_channels,
                                  int64_t temb_channels, int groups, float eps,
                                  float output_scale_factor) {
  ResnetBlock2D r;
  const auto same3 = ops::Conv2dParams::same(1, 1);
  r.norm1 = load_group_norm(ws, "norm1", in_channels, groups, eps);
  r.conv1 = load_conv2d(ws, "conv1", in_channels, out_channels, 3, same3);
  r.time_emb_proj = load_linear(ws, "time_emb_proj", temb_channels, out_channels);
  r.norm2 = load_group_norm(ws, "norm2", out_channels, groups, eps);
  r.conv2 = load_conv2d(ws, "conv2", out_channels, out_channels, 3, same3);
  if (in_channels != out_channels) {
    r.conv_shortcut =
        load_conv2d(ws, "conv_shortcut", in_channels, out_channels, 1, ops::Conv2dParams{});
  }
  r.output_scale_factor = output_scale_factor;
  return r;
}

Tensor ResnetBlock2D::forward(const Tensor& x, const Tensor& temb_act) const {
  Tensor h = conv1(norm1(x, /*fuse_silu=*/true));
  const Tensor t = time_emb_proj(temb_act);  // [B, out]
  ops::add_(h, t.reshape({t.size(0), t.size(1), 1, 1}));
  h = conv2(norm2(h, /*fuse_silu=*/true));
  const Tensor shortcut = conv_shortcut.defined() ? conv_shortcut(x) : x;
  Tensor out = ops::add(shortcut, h);
  if (output_scale_factor != 1.f) out = ops::scale(out, 1.f / output_scale_factor);
  return out;
}

Shape ResnetBlock2D::prepare(const Shape& x) const {
  const Shape h = conv2.prepare(conv1.prepare(x));
  if (conv_shortcut.defined()) conv_shortcut.prepare(x);
  return h;
}

}  // namespace ipa::unet
