#include "models/unet/attention.h"

#include <cmath>

#include "models/common/load_layers.h"
#include "ops/profile.h"

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

Tensor Attention::forward(const Tensor& x, const Tensor& context, const Tensor& ip_tokens,
                          const IpAttnLayer* ip) const {
  // dim_head ** -0.5 as Python computes it (double), then used in f32.
  const float sdpa_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dim_head)));
  const Tensor& ctx = context.defined() ? context : x;
  const Tensor q = to_q(x);
  Tensor out = ops::attention(q, to_k(ctx), to_v(ctx), heads, sdpa_scale);
  if (ip && ip->active() && ip_tokens.defined()) {
    ops::profile::OpScope prof("ip_adapter_branch");  // the IP-Adapter's whole cost, for bench
    const Tensor ip_out =
        ops::attention(q, ip->to_k_ip(ip_tokens), ip->to_v_ip(ip_tokens), heads, sdpa_scale);
    out = ops::add_scaled(out, ip_out, ip->scale);
  }
  return to_out(out);
}

}  // namespace ipa::unet
