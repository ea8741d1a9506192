// Transformer2DModel with BasicTransformerBlocks (continuous input, norm_type "layer_norm"):
//   x → GroupNorm(eps 1e-6) → proj_in (1×1 conv or linear) → tokens [B, H·W, inner]
//     → per block: x += attn1(LN1 x); x += attn2(LN2 x, text [+ IP]); x += FF(LN3 x)
//     → proj_out → back to [B, C, H, W] → + input.
// FF = GEGLU: Linear(dim, 2·4·dim) → a · GELU(gate) → Linear(4·dim, dim).
#pragma once
#include <string>
#include <vector>

#include "models/unet/attention.h"

namespace ipa::unet {

// What every cross-attention sees during one UNet call.
struct CrossContext {
  Tensor text;                                               // [B, Lt, C]
  const std::vector<CrossAttentionLayer>* layers = nullptr;  // by BasicTransformerBlock::layer
  const CrossAttentionExtension* extension = nullptr;        // may be null
};

struct BasicTransformerBlock {
  ops::LayerNorm norm1, norm2, norm3;
  Attention attn1, attn2;
  ops::Linear ff_in;   // ff.net.0.proj  [2·ff_inner, dim]
  ops::Linear ff_out;  // ff.net.2       [dim, ff_inner]
  std::string attn2_path;
  int layer = -1;  // index into CrossContext::layers (assigned by the UNet)

  static BasicTransformerBlock load(const WeightScope& ws, int64_t dim, int heads, int64_t dim_head,
                                    int64_t cross_attention_dim);
  // x [B, L, dim]
  Tensor forward(const Tensor& x, const CrossContext& ctx) const;
};

struct Transformer2DModel {
  ops::GroupNorm norm;
  bool linear_projection = false;
  ops::Linear proj_in, proj_out;  // 1×1 conv weights viewed as [out, in] when not linear
  std::vector<BasicTransformerBlock> blocks;

  // `channels` in and out; heads · (channels / heads) inner; `depth` transformer blocks.
  static Transformer2DModel load(const WeightScope& ws, int64_t channels, int heads, int depth,
                                 int64_t cross_attention_dim, int norm_groups,
                                 bool use_linear_projection);
  // x [B, C, H, W] → same shape
  Tensor forward(const Tensor& x, const CrossContext& ctx) const;
};

}  // namespace ipa::unet
