#include "models/vae/vae_encoder.h"

#include "models/common/load_layers.h"

namespace ipa::vae {

VaeEncoder::VaeEncoder(const VaeConfig& c, const WeightScope& ws) {
  const auto& ch = c.block_out_channels;
  const int g = c.norm_num_groups;
  conv_in_ =
      load_conv2d(ws, "conv_in", c.in_channels, ch.front(), 3, ops::Conv2dParams::same(1, 1));
  int64_t in = ch.front();
  for (int64_t i = 0; i < c.num_blocks(); ++i) {
    const WeightScope bs = ws.scope("down_blocks." + std::to_string(i));
    const int64_t out = ch[static_cast<size_t>(i)];
    DownBlock block{ResnetStack::load(bs, c.layers_per_block, in, out, g), std::nullopt};
    if (i + 1 < c.num_blocks())
      block.downsample = Downsample::load(bs.scope("downsamplers.0"), out);
    down_blocks_.push_back(std::move(block));
    in = out;
  }
  mid_block_ = MidBlock::load(ws.scope("mid_block"), ch.back(), g, c.mid_block_add_attention);
  conv_norm_out_ = load_group_norm(ws, "conv_norm_out", ch.back(), g, VaeConfig::kNormEps);
  // double_z: mean and logvar channels.
  conv_out_ = load_conv2d(ws, "conv_out", ch.back(), 2 * c.latent_channels, 3,
                          ops::Conv2dParams::same(1, 1));
}

Tensor VaeEncoder::operator()(const Tensor& image) const {
  Tensor x = conv_in_(image);
  for (const auto& block : down_blocks_) {
    x = block.resnets(x);
    if (block.downsample) x = (*block.downsample)(x);
  }
  x = mid_block_(x);
  return conv_out_(conv_norm_out_(x, /*fuse_silu=*/true));
}

}  // namespace ipa::vae
