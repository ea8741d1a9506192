// The diffusers `Attention` module as used by BasicTransformerBlock (heads packed along the
// channel dim, SDPA scale 1/√dim_head). A cross-attention (attn2) may carry an extension
// (cross_attention.h) that adds its own output to the text attention's before to_out.
#pragma once
#include <string>

#include "models/unet/cross_attention.h"
#include "ops/layers.h"
#include "weights/weight_store.h"

namespace ipa::unet {

struct Attention {
  int heads = 0;
  int64_t dim_head = 0;
  ops::Linear to_q, to_k, to_v;  // no bias
  ops::Linear to_out;            // to_out.0, with bias

  int64_t inner_dim() const { return heads * dim_head; }
  // `context_dim` = query_dim for self-attention.
  static Attention load(const WeightScope& ws, int64_t query_dim, int64_t context_dim, int heads,
                        int64_t dim_head);

  // x [B, L, query_dim]; context [B, Lk, context_dim] or undefined (self-attention). With an
  // extension, it extends this layer (`layer`) before to_out.
  Tensor forward(const Tensor& x, const Tensor& context = {},
                 const CrossAttentionExtension* extension = nullptr,
                 const CrossAttentionLayer* layer = nullptr) const;
};

}  // namespace ipa::unet
