#include "models/unet/blocks.h"

#include "models/common/load_layers.h"

namespace ipa::unet {

namespace {

std::string idx(const char* list, size_t i) {
  return std::string(list) + "." + std::to_string(i);
}

std::vector<Transformer2DModel> load_attentions(const WeightScope& ws, int64_t channels,
                                                const std::vector<int>& depths, int heads,
                                                int64_t cross_dim, const BlockCommon& c) {
  std::vector<Transformer2DModel> out;
  for (size_t i = 0; i < depths.size(); ++i) {
    out.push_back(Transformer2DModel::load(ws.scope(idx("attentions", i)), channels, heads,
                                           depths[i], cross_dim, c.norm_groups,
                                           c.use_linear_projection));
  }
  return out;
}

}  // namespace

DownBlock DownBlock::load(const WeightScope& ws, const BlockSpec& spec, const BlockCommon& c) {
  DownBlock b;
  for (int i = 0; i < spec.num_layers; ++i) {
    const int64_t in = i == 0 ? spec.in_channels : spec.out_channels;
    b.resnets.push_back(ResnetBlock2D::load(ws.scope(idx("resnets", i)), in, spec.out_channels,
                                            c.temb_channels, c.norm_groups, c.norm_eps, 1.f));
  }
  if (spec.has_attention) {
    b.attentions = load_attentions(ws, spec.out_channels, spec.transformer_layers, spec.heads,
                                   spec.cross_attention_dim, c);
  }
  if (spec.add_sample) {
    ops::Conv2dParams p;
    p.stride_h = p.stride_w = 2;
    if (c.downsample_padding == 0) {
      // diffusers pads right and bottom by one before an unpadded stride-2 conv.
      p.pad_bottom = p.pad_right = 1;
    } else {
      p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = c.downsample_padding;
    }
    b.downsampler =
        load_conv2d(ws, "downsamplers.0.conv", spec.out_channels, spec.out_channels, 3, p);
  }
  return b;
}

Tensor DownBlock::forward(const Tensor& x_in, const Tensor& temb_act, const CrossContext& ctx,
                          std::vector<Tensor>* skips) const {
  Tensor x = x_in;
  for (size_t i = 0; i < resnets.size(); ++i) {
    x = resnets[i].forward(x, temb_act);
    if (!attentions.empty()) x = attentions[i].forward(x, ctx);
    skips->push_back(x);
  }
  if (downsampler.defined()) {
    x = downsampler(x);
    skips->push_back(x);
  }
  return x;
}

MidBlock MidBlock::load(const WeightScope& ws, const MidSpec& spec, const BlockCommon& c,
                        float output_scale_factor) {
  MidBlock m;
  auto resnet = [&](size_t i) {
    return ResnetBlock2D::load(ws.scope(idx("resnets", i)), spec.channels, spec.channels,
                               c.temb_channels, c.norm_groups, c.norm_eps, output_scale_factor);
  };
  m.resnets.push_back(resnet(0));
  if (spec.type == "UNetMidBlock2DCrossAttn") {
    m.attentions = load_attentions(ws, spec.channels, spec.transformer_layers, spec.heads,
                                   spec.cross_attention_dim, c);
  }
  for (int i = 0; i < spec.num_layers; ++i) m.resnets.push_back(resnet(i + 1));
  return m;
}

Tensor MidBlock::forward(const Tensor& x_in, const Tensor& temb_act,
                         const CrossContext& ctx) const {
  Tensor x = resnets[0].forward(x_in, temb_act);
  for (size_t i = 1; i < resnets.size(); ++i) {
    if (i - 1 < attentions.size()) x = attentions[i - 1].forward(x, ctx);
    x = resnets[i].forward(x, temb_act);
  }
  return x;
}

UpBlock UpBlock::load(const WeightScope& ws, const BlockSpec& spec, const BlockCommon& c) {
  UpBlock b;
  for (int i = 0; i < spec.num_layers; ++i) {
    const int64_t skip = i + 1 == spec.num_layers ? spec.in_channels : spec.out_channels;
    const int64_t in = i == 0 ? spec.prev_output_channel : spec.out_channels;
    b.resnets.push_back(ResnetBlock2D::load(ws.scope(idx("resnets", i)), in + skip,
                                            spec.out_channels, c.temb_channels, c.norm_groups,
                                            c.norm_eps, 1.f));
  }
  if (spec.has_attention) {
    b.attentions = load_attentions(ws, spec.out_channels, spec.transformer_layers, spec.heads,
                                   spec.cross_attention_dim, c);
  }
  if (spec.add_sample) {
    b.upsampler = load_conv2d(ws, "upsamplers.0.conv", spec.out_channels, spec.out_channels, 3,
                              ops::Conv2dParams::same(1, 1));
  }
  return b;
}

Tensor UpBlock::forward(const Tensor& x_in, const Tensor& temb_act, const CrossContext& ctx,
                        std::vector<Tensor>* skips, std::pair<int64_t, int64_t> upsample_hw) const {
  Tensor x = x_in;
  for (size_t i = 0; i < resnets.size(); ++i) {
    const Tensor skip = skips->back();
    skips->pop_back();
    x = resnets[i].forward(ops::concat({x, skip}, 1), temb_act);
    if (!attentions.empty()) x = attentions[i].forward(x, ctx);
  }
  if (upsampler.defined()) {
    x = upsampler(ops::upsample_nearest(x, upsample_hw.first, upsample_hw.second));
  }
  return x;
}

// ---- prepare: forward() on shapes (the transformers keep the shape) ----

Shape DownBlock::prepare(const Shape& x_in, std::vector<Shape>* skips) const {
  Shape x = x_in;
  for (const auto& r : resnets) {
    x = r.prepare(x);
    skips->push_back(x);
  }
  if (downsampler.defined()) {
    x = downsampler.prepare(x);
    skips->push_back(x);
  }
  return x;
}

Shape MidBlock::prepare(const Shape& x_in) const {
  Shape x = x_in;
  for (const auto& r : resnets) x = r.prepare(x);
  return x;
}

Shape UpBlock::prepare(const Shape& x_in, std::vector<Shape>* skips,
                       std::pair<int64_t, int64_t> upsample_hw) const {
  Shape x = x_in;
  for (const auto& r : resnets) {
    Shape cat = x;
    cat[1] += skips->back()[1];
    skips->pop_back();
    x = r.prepare(cat);
  }
  if (upsampler.defined())
    x = upsampler.prepare({x[0], x[1], upsample_hw.first, upsample_hw.second});
  return x;
}

}  // namespace ipa::unet
