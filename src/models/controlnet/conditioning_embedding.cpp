#include "models/controlnet/conditioning_embedding.h"

#include "models/common/load_layers.h"

namespace ipa::controlnet {

ConditioningEmbedding ConditioningEmbedding::load(const WeightScope& ws,
                                                  const ControlNetConfig& c) {
  const auto& ch = c.conditioning_embedding_out_channels;
  const auto same = ops::Conv2dParams::same(1, 1);
  ConditioningEmbedding e;
  e.conv_in = load_conv2d(ws, "conv_in", c.conditioning_channels, ch[0], 3, same);
  for (size_t i = 1; i < ch.size(); ++i) {
    const std::string a = "blocks." + std::to_string(2 * i - 2);
    const std::string b = "blocks." + std::to_string(2 * i - 1);
    e.blocks.push_back(load_conv2d(ws, a, ch[i - 1], ch[i - 1], 3, same));
    e.blocks.push_back(load_conv2d(ws, b, ch[i - 1], ch[i], 3, ops::Conv2dParams::same(2, 1)));
  }
  e.conv_out = load_conv2d(ws, "conv_out", ch.back(), c.unet.block_out_channels.at(0), 3, same);
  return e;
}

Tensor ConditioningEmbedding::forward(const Tensor& image) const {
  Tensor x = ops::silu(conv_in(image));
  for (const auto& conv : blocks) x = ops::silu(conv(x));
  return conv_out(x);
}

}  // namespace ipa::controlnet
