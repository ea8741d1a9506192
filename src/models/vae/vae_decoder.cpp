#include "models/vae/vae_decoder.h"

#include "models/common/load_layers.h"

namespace ipa::vae {

VaeDecoder::VaeDecoder(const VaeConfig& c, const WeightScope& ws) {
  const auto& ch = c.block_out_channels;
  const int g = c.norm_num_groups;
  conv_in_ =
      load_conv2d(ws, "conv_in", c.latent_channels, ch.back(), 3, ops::Conv2dParams::same(1, 1));
  mid_block_ = MidBlock::load(ws.scope("mid_block"), ch.back(), g, c.mid_block_add_attention);
  // Up blocks walk block_out_channels in reverse.
  int64_t in = ch.back();
  for (int64_t i = 0; i < c.num_blocks(); ++i) {
    const WeightScope bs = ws.scope("up_blocks." + std::to_string(i));
    const int64_t out = ch[static_cast<size_t>(c.num_blocks() - 1 - i)];
    UpBlock block{ResnetStack::load(bs, c.layers_per_block + 1, in, out, g), std::nullopt};
    if (i + 1 < c.num_blocks()) block.upsample = Upsample::load(bs.scope("upsamplers.0"), out);
    up_blocks_.push_back(std::move(block));
    in = out;
  }
  conv_norm_out_ = load_group_norm(ws, "conv_norm_out", ch.front(), g, VaeConfig::kNormEps);
  conv_out_ =
      load_conv2d(ws, "conv_out", ch.front(), c.out_channels, 3, ops::Conv2dParams::same(1, 1));
}

Tensor VaeDecoder::operator()(const Tensor& z) const {
  // Channels-last throughout (ops.h): the convolutions then read and write their own layout
  // instead of transposing every activation twice; the image comes back NCHW.
  Tensor x = mid_block_(conv_in_(ops::to_channels_last(z)));
  for (const auto& block : up_blocks_) {
    x = block.resnets(x);
    if (block.upsample) x = (*block.upsample)(x);
  }
  return conv_out_(conv_norm_out_(x, /*fuse_silu=*/true)).contiguous();
}

void VaeDecoder::prepare(const Shape& z) const {
  Shape x = mid_block_.prepare(conv_in_.prepare(z));
  for (const auto& block : up_blocks_) {
    x = block.resnets.prepare(x);
    if (block.upsample) x = block.upsample->prepare(x);
  }
  conv_out_.prepare(x);
}

}  // namespace ipa::vae
