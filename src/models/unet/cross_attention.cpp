#include "models/unet/cross_attention.h"

namespace ipa::unet {

namespace {

void add_block(const std::string& block_path, const std::vector<int>& depths, int heads,
               int64_t channels, int64_t cross_dim, std::vector<CrossAttentionLayer>* out) {
  for (size_t a = 0; a < depths.size(); ++a) {
    for (int t = 0; t < depths[a]; ++t) {
      CrossAttentionLayer l;
      l.index = static_cast<int>(out->size());
      l.path = block_path + ".attentions." + std::to_string(a) + ".transformer_blocks." +
               std::to_string(t) + ".attn2";
      l.heads = heads;
      l.dim_head = channels / heads;  // floor, as diffusers does
      l.query_dim = l.inner_dim();    // Transformer2DModel projects channels to heads·dim_head
      l.cross_attention_dim = cross_dim;
      out->push_back(std::move(l));
    }
  }
}

}  // namespace

std::vector<CrossAttentionLayer> cross_attention_layers(const UNetConfig& c) {
  std::vector<CrossAttentionLayer> out;
  for (size_t b = 0; b < c.down_blocks.size(); ++b) {
    const BlockSpec& s = c.down_blocks[b];
    if (s.has_attention) {
      add_block("down_blocks." + std::to_string(b), s.transformer_layers, s.heads, s.out_channels,
                s.cross_attention_dim, &out);
    }
  }
  for (size_t b = 0; b < c.up_blocks.size(); ++b) {
    const BlockSpec& s = c.up_blocks[b];
    if (s.has_attention) {
      add_block("up_blocks." + std::to_string(b), s.transformer_layers, s.heads, s.out_channels,
                s.cross_attention_dim, &out);
    }
  }
  if (c.mid.type == "UNetMidBlock2DCrossAttn") {
    add_block("mid_block", c.mid.transformer_layers, c.mid.heads, c.mid.channels,
              c.mid.cross_attention_dim, &out);
  }
  return out;
}

}  // namespace ipa::unet
