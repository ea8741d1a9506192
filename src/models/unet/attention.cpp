#include "models/unet/attention.h"

#include <cmath>

#include "models/common/load_layers.h"

namespace ipa::unet {

Attention Attention::load(const WeightScope& ws, int64_t query_dim, int64_t context_dim, int heads,
                          int64_t dim_head) {
  Attention a;
  a.heads = heads;
  a.dim_head = dim_head;
  const int64_t inner = a.inner_dim();
  a.to_q = load_linear(ws, "to_q", query_dim, inner, /*bias=*/false);
  a.to_k = load_linear(ws, "to_k", context_dim, inner, /*bias=*/false);
  a.to_v = load_linear(ws, "to_v", context_dim, inner, /*bias=*/false);
  a.to_out = load_linear(ws, "to_out.0", inner, query_dim);
  return a;
}

Tensor Attention::forward(const Tensor& x, const Tensor& context,
                          const CrossAttentionExtension* extension,
                          const CrossAttentionLayer* layer) const {
  // dim_head ** -0.5 as Python computes it (double), then used in f32.
  const float sdpa_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dim_head)));
  const Tensor& ctx = context.defined() ? context : x;
  const Tensor q = to_q(x);
  // Computes in bf16 where the layer does (its projections' weights are BF16).
  Tensor out = ops::attention(q, to_k(ctx), to_v(ctx), heads, sdpa_scale, {}, to_q.dtype());
  if (extension && layer) extension->extend({*layer, q, sdpa_scale, out});
  return to_out(out);
}

}  // namespace ipa::unet
