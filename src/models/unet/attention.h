// The diffusers `Attention` module as used by BasicTransformerBlock (heads packed along the
// channel dim, SDPA scale 1/√dim_head), with the decoupled IP-Adapter branch on attn2:
//   O = SDPA(Q, K_txt, V_txt) + scale · SDPA(Q, e_ip·Wk_ipᵀ, e_ip·Wv_ipᵀ);  out = to_out.0(O)
// The image branch reuses Q and is added before to_out, exactly like IPAttnProcessor.
#pragma once
#include <string>

#include "ops/layers.h"
#include "weights/weight_store.h"

namespace ipa::unet {

// Per-layer state of one attn2's image-prompt branch. The UNet keeps one per attn2, in
// checkpoint order; per-layer controls (scale now; weights, masks, step windows later) live here
// so the attention sees everything about its layer in one place.
struct IpAttnLayer {
  std::string attn2_path;           // "down_blocks.0.attentions.0.transformer_blocks.0.attn2"
  int checkpoint_index = 0;         // k of ip_adapter.<k>.to_k_ip.weight
  int64_t cross_attention_dim = 0;  // width of the tokens this layer attends to
  int64_t inner_dim = 0;            // heads · dim_head
  ops::Linear to_k_ip, to_v_ip;     // [inner_dim, cross_attention_dim], no bias; undefined = none
  float scale = 1.f;

  bool loaded() const { return to_k_ip.weight.defined(); }
  // Scale 0 skips the branch, so the result is the plain UNet bit for bit.
  bool active() const { return loaded() && scale != 0.f; }
};

struct Attention {
  int heads = 0;
  int64_t dim_head = 0;
  ops::Linear to_q, to_k, to_v;  // no bias
  ops::Linear to_out;            // to_out.0, with bias

  int64_t inner_dim() const { return heads * dim_head; }
  // `context_dim` = query_dim for self-attention.
  static Attention load(const WeightScope& ws, int64_t query_dim, int64_t context_dim, int heads,
                        int64_t dim_head);

  // x [B, L, query_dim]; context [B, Lk, context_dim] or undefined (self-attention);
  // ip_tokens [B, T, C] used when `ip` is given and active.
  Tensor forward(const Tensor& x, const Tensor& context = {}, const Tensor& ip_tokens = {},
                 const IpAttnLayer* ip = nullptr) const;
};

}  // namespace ipa::unet
