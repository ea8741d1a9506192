// The UNet's cross-attention (attn2) layers and the one extension point they offer: after a
// layer has attended to the text, an extension may add its own attention output before to_out.
// IP-Adapter's decoupled image attention is such an extension (adapter/ip_attention.h); the
// UNet itself knows nothing of image prompts.
#pragma once
#include <string>
#include <vector>

#include "models/unet/config.h"
#include "tensor/tensor.h"

namespace ipa::unet {

// One attn2 of the UNet.
struct CrossAttentionLayer {
  int index = 0;     // position in diffusers' attn_processors order: down_blocks, up_blocks, mid
  std::string path;  // "down_blocks.0.attentions.0.transformer_blocks.0.attn2"
  int heads = 0;
  int64_t dim_head = 0;
  int64_t query_dim = 0;            // the block's channels
  int64_t cross_attention_dim = 0;  // width of the context tokens
  int64_t inner_dim() const { return heads * dim_head; }
};

// Every attn2 of a UNet with this config, in attn_processors order (the order diffusers'
// set_attn_processor and IP-Adapter checkpoints number them in). A pure function of the
// config, so adapters can be checked against a UNet before its weights are loaded.
std::vector<CrossAttentionLayer> cross_attention_layers(const UNetConfig& config);

// What one attn2 hands its extension. `out` is the text attention output [B, Lq, inner_dim]
// (heads packed like to_q's output), before to_out; the extension adds to it (fresh tensor or
// in place).
struct CrossAttentionCall {
  const CrossAttentionLayer& layer;
  const Tensor& query;  // to_q(x) [B, Lq, inner_dim]
  float sdpa_scale;     // 1/√dim_head, as the layer's own attention uses
  Tensor& out;
};

class CrossAttentionExtension {
 public:
  virtual ~CrossAttentionExtension() = default;
  virtual void extend(const CrossAttentionCall& call) const = 0;
};

}  // namespace ipa::unet
