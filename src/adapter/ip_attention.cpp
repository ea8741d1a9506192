#include "adapter/ip_attention.h"

#include <cmath>
#include <map>

#include "adapter/ip_layer_map.h"
#include "models/common/load_layers.h"
#include "ops/profile.h"

namespace ipa {

namespace {

std::string join_keys(const std::vector<std::string>& keys, size_t max_shown) {
  std::string s;
  for (size_t i = 0; i < keys.size() && i < max_shown; ++i) s += (i ? ", " : "") + keys[i];
  if (keys.size() > max_shown) s += ", ... (" + std::to_string(keys.size()) + " in all)";
  return s;
}

}  // namespace

IpAttentionWeights IpAttentionWeights::load(const WeightScope& ws,
                                            const std::vector<unet::CrossAttentionLayer>& layers) {
  const std::string label = ws.store().label();
  const std::string prefix = ws.prefix().empty() ? "" : ws.prefix() + ".";
  if (layers.empty()) {
    throw Error("this UNet has no cross-attention layers to attach an IP-Adapter to", label);
  }
  const auto keys = ws.store().keys_with_prefix(prefix);
  if (keys.empty()) {
    throw Error("no IP-Adapter layer weights ('" + prefix + "<k>.to_k_ip.weight') found", label);
  }

  // Which checkpoint indices does the file hold, and is anything else there?
  std::map<int, std::pair<bool, bool>> present;  // k → (to_k_ip, to_v_ip)
  std::vector<std::string> unexpected;
  for (const auto& key : keys) {
    const auto name = parse_ip_weight_name(key.substr(prefix.size()));
    if (!name) {
      unexpected.push_back(key);
      continue;
    }
    auto& slot = present[name->checkpoint_index];
    (name->is_key ? slot.first : slot.second) = true;
  }
  if (!unexpected.empty()) {
    throw Error("unexpected IP-Adapter layer weights: " + join_keys(unexpected, 3), label);
  }

  const auto map = ip_layer_map(layers);
  std::map<int, const unet::CrossAttentionLayer*> by_index;
  for (size_t i = 0; i < map.size(); ++i) by_index[map[i].checkpoint_index] = &layers[i];

  // Token width first: an adapter for another base model (e.g. SDXL on SD1.5) fails here with
  // both shapes in the message, before the layer count would.
  for (const auto& [k, kv] : present) {
    for (bool is_key : {true, false}) {
      if (!(is_key ? kv.first : kv.second)) continue;
      const std::string rel = is_key ? ip_key_weight_name(k) : ip_value_weight_name(k);
      const Shape actual = ws.shape_of(rel);
      const auto it = by_index.find(k);
      const int64_t want_c = it != by_index.end() ? it->second->cross_attention_dim
                                                  : layers.front().cross_attention_dim;
      if (actual.size() != 2 || actual[1] != want_c) {
        const Shape expected = {it != by_index.end() ? it->second->inner_dim() : -1, want_c};
        throw Error("expected shape " + shape_str(expected) + ", got " + shape_str(actual) +
                        ": the adapter's image tokens are " +
                        (actual.size() == 2 ? std::to_string(actual[1]) : std::string("?")) +
                        " wide but this UNet's cross_attention_dim is " + std::to_string(want_c) +
                        " — the IP-Adapter was made for a different base model",
                    ws.store().source_of(ws.join(rel)), ws.join(rel));
      }
    }
  }

  // Exactly one to_k_ip/to_v_ip pair per attn2.
  std::vector<std::string> missing, extra;
  for (const auto& e : map) {
    const auto it = present.find(e.checkpoint_index);
    if (it == present.end() || !it->second.first)
      missing.push_back(ws.join(ip_key_weight_name(e.checkpoint_index)));
    if (it == present.end() || !it->second.second)
      missing.push_back(ws.join(ip_value_weight_name(e.checkpoint_index)));
  }
  for (const auto& [k, kv] : present) {
    if (by_index.count(k)) continue;
    extra.push_back(ws.join(kv.first ? ip_key_weight_name(k) : ip_value_weight_name(k)));
  }
  if (!missing.empty() || !extra.empty()) {
    std::string msg = "the IP-Adapter has weights for " + std::to_string(present.size()) +
                      " attention layer(s) but this UNet has " + std::to_string(layers.size()) +
                      " cross-attention layers (indices 1, 3, ..., " +
                      std::to_string(2 * layers.size() - 1) + ")";
    if (!missing.empty()) msg += "; missing: " + join_keys(missing, 3);
    if (!extra.empty()) msg += "; not in this UNet: " + join_keys(extra, 3);
    throw Error(msg, label);
  }

  IpAttentionWeights w;
  w.layers_ = layers;
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string k = std::to_string(map[i].checkpoint_index);
    const auto& l = layers[i];
    w.to_k_.push_back(load_linear(ws, k + ".to_k_ip", l.cross_attention_dim, l.inner_dim(), false));
    w.to_v_.push_back(load_linear(ws, k + ".to_v_ip", l.cross_attention_dim, l.inner_dim(), false));
  }
  return w;
}

void IpAttention::add(const IpAttentionWeights& weights, Tensor tokens, float scale) {
  add(weights, std::move(tokens),
      std::vector<float>(static_cast<size_t>(weights.num_layers()), scale));
}

void IpAttention::add(const IpAttentionWeights& weights, Tensor tokens,
                      std::vector<float> layer_scales) {
  IpAttentionInput in;
  in.weights = &weights;
  in.tokens = std::move(tokens);
  in.layer_scales = std::move(layer_scales);
  add(std::move(in));
}

void IpAttention::add(IpAttentionInput in) {
  if (!in.weights) throw Error("internal error: IP-Adapter input without weights");
  const IpAttentionWeights& weights = *in.weights;
  if (static_cast<int>(in.layer_scales.size()) != weights.num_layers()) {
    throw Error("IP-Adapter: " + std::to_string(in.layer_scales.size()) +
                " layer scales given for " + std::to_string(weights.num_layers()) + " layers");
  }
  for (float s : in.layer_scales) {
    if (!std::isfinite(s)) throw Error("IP-Adapter scale must be a finite number");
  }
  for (float s : in.group_scales) {
    if (!std::isfinite(s)) throw Error("IP-Adapter scale must be a finite number");
  }
  const int64_t width = weights.layers().front().cross_attention_dim;
  const Tensor& tokens = in.tokens;
  if (!tokens.defined() || tokens.dim() != 3 || tokens.size(2) != width ||
      tokens.dtype() != DType::F32) {
    throw Error("IP-Adapter: image tokens must be F32 [B, T, " + std::to_string(width) + "], got " +
                (tokens.defined() ? tokens.describe() : std::string("nothing")));
  }
  if (in.masks.empty()) {
    if (in.group_scales.size() != 1) {
      throw Error("IP-Adapter: one weight per image needs masks (one per image)");
    }
  } else {
    const int64_t T = in.tokens_per_image;
    if (T < 1 || tokens.size(1) != T * static_cast<int64_t>(in.masks.size()) ||
        in.group_scales.size() != in.masks.size()) {
      throw Error("IP-Adapter: " + std::to_string(in.masks.size()) + " masks and " +
                  std::to_string(in.group_scales.size()) + " weights for " +
                  std::to_string(T > 0 ? tokens.size(1) / T : 0) +
                  " images: give one mask and one weight per image");
    }
    for (const Tensor& m : in.masks) {
      if (m.dim() != 2 || m.dtype() != DType::F32) {
        throw Error("IP-Adapter: masks must be F32 [H, W], got " + m.describe());
      }
    }
  }
  if (!(in.start >= 0 && in.start < in.end && in.end <= 1)) {
    throw Error("IP-Adapter: the step window must have 0 <= start < end <= 1");
  }
  Entry e;
  e.num_layers = weights.num_layers();
  in.tokens = tokens.contiguous();
  e.in = std::move(in);
  e.kv.resize(static_cast<size_t>(e.num_layers));
  entries_.push_back(std::move(e));
}

void IpAttention::begin_step(size_t step, size_t total) {
  // start and end arrive as floats (0.2f is a little above 0.2): compare with a margin far
  // below one step (steps are at most 1000).
  constexpr double kMargin = 1e-6;
  const double f = total > 0 ? static_cast<double>(step) / static_cast<double>(total) : 0.0;
  for (Entry& e : entries_) e.active = f >= e.in.start - kMargin && f < e.in.end - kMargin;
}

const std::pair<Tensor, Tensor>& IpAttention::keys_values(const Entry& e, int layer) {
  auto& kv = e.kv[static_cast<size_t>(layer)];
  if (!kv.first.defined()) {
    if (!e.in.weights) throw Error("internal error: IP-Adapter keys were not precomputed");
    kv = {e.in.weights->to_k(layer)(e.in.tokens), e.in.weights->to_v(layer)(e.in.tokens)};
  }
  return kv;
}

void IpAttention::precompute() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Entry& e : entries_) {
    for (int layer = 0; layer < e.num_layers; ++layer) {
      if (e.in.layer_scales[static_cast<size_t>(layer)] != 0.f) keys_values(e, layer);
    }
    e.in.weights = nullptr;
  }
}

namespace {

// K, V of one group under the embeds scaling, and the factor its attention output still takes.
struct Scaled {
  Tensor k, v;
  float out_scale;
};
Scaled scale_keys_values(const Tensor& k, const Tensor& v, float w, EmbedsScaling mode,
                         int64_t width) {
  const float penalty = static_cast<float>(static_cast<double>(width) / 1280.0);
  switch (mode) {
    case EmbedsScaling::VOnly:
      return {k, v, w};
    case EmbedsScaling::KV:
      return {ops::scale(k, w), ops::scale(v, w), 1.f};
    case EmbedsScaling::KVPenalty: {
      const float wp = w * penalty;
      return {ops::scale(k, wp), ops::scale(v, wp), 1.f};
    }
    case EmbedsScaling::KMeanVPenalty: {
      const float wp = w * penalty;
      // m = mean over the tokens [B, 1, C]; V' = (V - m) + m·w'. Summed on the host in this
      // order (as the reference): on a device an explicit copy of the few image-token values
      // [B, T, C] there and of m back (once per layer and generation: keys_values are cached).
      const int64_t B = v.size(0), L = v.size(1), C = v.size(2);
      Tensor m = Tensor::zeros({B, 1, C});
      const Tensor vh = v.to(Device{});
      const float* pv = vh.data<float>();
      float* pm = m.data<float>();
      for (int64_t b = 0; b < B; ++b) {
        for (int64_t t = 0; t < L; ++t) {
          for (int64_t c = 0; c < C; ++c) pm[b * C + c] += pv[(b * L + t) * C + c];
        }
        for (int64_t c = 0; c < C; ++c) pm[b * C + c] /= static_cast<float>(L);
      }
      m = m.to(v.device());
      return {ops::scale(k, wp), ops::add(ops::sub(v, m), ops::scale(m, wp)), 1.f};
    }
  }
  return {k, v, w};
}

}  // namespace

void IpAttention::extend(const unet::CrossAttentionCall& call) const {
  const int layer = call.layer.index;
  const int64_t nq = call.query.size(1);
  for (const Entry& e : entries_) {
    if (!e.active) continue;
    if (layer < 0 || layer >= e.num_layers) {
      throw Error("IP-Adapter: the UNet's attn2 number " + std::to_string(layer) +
                  " has no IP-Adapter weights (the adapter was bound to another UNet)");
    }
    const float layer_scale = e.in.layer_scales[static_cast<size_t>(layer)];
    if (layer_scale == 0.f) continue;
    if (e.in.tokens.size(0) != call.query.size(0)) {
      throw Error("IP-Adapter: image tokens for a batch of " + std::to_string(e.in.tokens.size(0)) +
                  ", but the UNet runs a batch of " + std::to_string(call.query.size(0)));
    }
    ops::profile::OpScope prof("ip_adapter_branch");  // the IP-Adapter's whole cost, for bench
    Tensor k, v;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto& kv = keys_values(e, layer);
      k = kv.first;
      v = kv.second;
    }
    const size_t groups = e.in.masks.empty() ? 1 : e.in.masks.size();
    for (size_t g = 0; g < groups; ++g) {
      const float w = layer_scale * e.in.group_scales[g];
      if (w == 0.f && e.in.scaling == EmbedsScaling::VOnly) continue;
      Tensor kg = k, vg = v;
      if (!e.in.masks.empty()) {
        const int64_t T = e.in.tokens_per_image;
        kg = k.narrow(1, static_cast<int64_t>(g) * T, T).contiguous();
        vg = v.narrow(1, static_cast<int64_t>(g) * T, T).contiguous();
      }
      const Scaled s = scale_keys_values(kg, vg, w, e.in.scaling, call.layer.inner_dim());
      Tensor o = ops::attention(call.query, s.k, s.v, call.layer.heads, call.sdpa_scale);
      if (!e.in.masks.empty()) {
        Tensor m;
        {
          std::lock_guard<std::mutex> lock(mu_);
          auto& cached = e.masks_at[{g, nq}];
          // The mask is a host input; its [nq] weights go to the queries' device once.
          if (!cached.defined()) {
            cached =
                downsample_ip_mask(e.in.masks[g], nq).reshape({1, nq, 1}).to(call.query.device());
          }
          m = cached;
        }
        o = ops::mul(o, m);
      }
      call.out = ops::add_scaled(call.out, o, s.out_scale);
    }
  }
}

Tensor downsample_ip_mask(const Tensor& mask, int64_t nq) {
  if (mask.dim() != 2 || nq < 1) {
    throw Error("IP-Adapter mask: expected [H, W] and a positive query count");
  }
  const int64_t h = mask.size(0), w = mask.size(1);
  const double ratio = static_cast<double>(w) / static_cast<double>(h);
  int64_t mask_h = static_cast<int64_t>(std::sqrt(static_cast<double>(nq) / ratio));
  if (mask_h < 1) mask_h = 1;
  mask_h += (nq % mask_h != 0) ? 1 : 0;
  const int64_t mask_w = std::max<int64_t>(nq / mask_h, 1);
  const Tensor small = ops::interpolate(mask.to(Device{}).reshape({1, 1, h, w}), mask_h, mask_w,
                                        ops::Interp::Bicubic, false);  // on the host: an input
  const std::vector<float> flat = small.to_floats();
  std::vector<float> out(static_cast<size_t>(nq), 0.f);  // zero-padded, or the first nq kept
  std::copy_n(flat.begin(), std::min<size_t>(flat.size(), out.size()), out.begin());
  return Tensor::from_vector({nq}, out);
}

}  // namespace ipa
