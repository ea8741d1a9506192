#include "models/unet/transformer.h"

#include "models/common/load_layers.h"

namespace ipa::unet {

namespace {

constexpr float kTransformerGroupNormEps = 1e-6f;  // fixed in diffusers' Transformer2DModel
constexpr float kLayerNormEps = 1e-5f;             // BasicTransformerBlock default norm_eps
constexpr int64_t kFeedForwardMult = 4;

// A 1×1 convolution `name` loaded as a linear layer over channels-last tokens.
ops::Linear load_pointwise(const WeightScope& ws, const std::string& name, int64_t in, int64_t out,
                           bool as_linear) {
  if (as_linear) return load_linear(ws, name, in, out);
  return ops::Linear(
      ws.get_float(name + ".weight", {out, in, 1, 1}, ws.store().layer_dtype()).reshape({out, in}),
      ws.get_f32(name + ".bias", {out}));
}

}  // namespace

BasicTransformerBlock BasicTransformerBlock::load(const WeightScope& ws, int64_t dim, int heads,
                                                  int64_t dim_head, int64_t cross_attention_dim) {
  BasicTransformerBlock b;
  b.norm1 = load_layer_norm(ws, "norm1", dim, kLayerNormEps);
  b.attn1 = Attention::load(ws.scope("attn1"), dim, dim, heads, dim_head);
  b.norm2 = load_layer_norm(ws, "norm2", dim, kLayerNormEps);
  b.attn2 = Attention::load(ws.scope("attn2"), dim, cross_attention_dim, heads, dim_head);
  b.norm3 = load_layer_norm(ws, "norm3", dim, kLayerNormEps);
  const int64_t ff_inner = dim * kFeedForwardMult;
  b.ff_in = load_linear(ws, "ff.net.0.proj", dim, 2 * ff_inner);
  b.ff_out = load_linear(ws, "ff.net.2", ff_inner, dim);
  b.attn2_path = ws.join("attn2");
  return b;
}

Tensor BasicTransformerBlock::forward(const Tensor& x_in, const CrossContext& ctx) const {
  Tensor x = attn1.forward(norm1(x_in));
  ops::add_(x, x_in);

  const CrossAttentionLayer* info =
      (ctx.layers && layer >= 0) ? &(*ctx.layers)[static_cast<size_t>(layer)] : nullptr;
  Tensor y = attn2.forward(norm2(x), ctx.text, ctx.extension, info);
  ops::add_(y, x);

  Tensor z = ff_out(ops::geglu(ff_in(norm3(y))));
  ops::add_(z, y);
  return z;
}

Transformer2DModel Transformer2DModel::load(const WeightScope& ws, int64_t channels, int heads,
                                            int depth, int64_t cross_attention_dim, int norm_groups,
                                            bool use_linear_projection) {
  Transformer2DModel t;
  const int64_t dim_head = channels / heads;  // floor, as diffusers does
  const int64_t inner = heads * dim_head;
  t.norm = load_group_norm(ws, "norm", channels, norm_groups, kTransformerGroupNormEps);
  t.linear_projection = use_linear_projection;
  t.proj_in = load_pointwise(ws, "proj_in", channels, inner, use_linear_projection);
  for (int i = 0; i < depth; ++i) {
    t.blocks.push_back(
        BasicTransformerBlock::load(ws.scope("transformer_blocks." + std::to_string(i)), inner,
                                    heads, dim_head, cross_attention_dim));
  }
  t.proj_out = load_pointwise(ws, "proj_out", inner, channels, use_linear_projection);
  return t;
}

Tensor Transformer2DModel::forward(const Tensor& x, const CrossContext& ctx) const {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  // Tokens [B, H·W, C]: a view of a channels-last x's storage, else a transpose. A 1×1 conv
  // equals a linear layer on them.
  const Tensor normed = norm(x);
  Tensor h = ops::is_channels_last(normed)
                 ? normed.permute({0, 2, 3, 1}).reshape({B, H * W, C})
                 : ops::permute(normed, {0, 2, 3, 1}).reshape({B, H * W, C});
  h = proj_in(h);
  for (const auto& block : blocks) h = block.forward(h, ctx);
  h = proj_out(h);
  // Back to [B, C, H, W]: channels-last as a view, else a transpose.
  Tensor out = ops::is_channels_last(x) ? h.reshape({B, H, W, C}).permute({0, 3, 1, 2})
                                        : ops::permute(h.reshape({B, H, W, C}), {0, 3, 1, 2});
  ops::add_(out, x);
  return out;
}

}  // namespace ipa::unet
