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
  if (static_cast<int>(layer_scales.size()) != weights.num_layers()) {
    throw Error("IP-Adapter: " + std::to_string(layer_scales.size()) + " layer scales given for " +
                std::to_string(weights.num_layers()) + " layers");
  }
  for (float s : layer_scales) {
    if (!std::isfinite(s)) throw Error("IP-Adapter scale must be a finite number");
  }
  const int64_t width = weights.layers().front().cross_attention_dim;
  if (!tokens.defined() || tokens.dim() != 3 || tokens.size(2) != width ||
      tokens.dtype() != DType::F32) {
    throw Error("IP-Adapter: image tokens must be F32 [B, T, " + std::to_string(width) + "], got " +
                (tokens.defined() ? tokens.describe() : std::string("nothing")));
  }
  Entry e;
  e.weights = &weights;
  e.num_layers = weights.num_layers();
  e.tokens = tokens.contiguous();
  e.scales = std::move(layer_scales);
  e.kv.resize(static_cast<size_t>(weights.num_layers()));
  entries_.push_back(std::move(e));
}

const std::pair<Tensor, Tensor>& IpAttention::keys_values(const Entry& e, int layer) {
  auto& kv = e.kv[static_cast<size_t>(layer)];
  if (!kv.first.defined()) {
    if (!e.weights) throw Error("internal error: IP-Adapter keys were not precomputed");
    kv = {e.weights->to_k(layer)(e.tokens), e.weights->to_v(layer)(e.tokens)};
  }
  return kv;
}

void IpAttention::precompute() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Entry& e : entries_) {
    for (int layer = 0; layer < e.num_layers; ++layer) {
      if (e.scales[static_cast<size_t>(layer)] != 0.f) keys_values(e, layer);
    }
    e.weights = nullptr;
  }
}

void IpAttention::extend(const unet::CrossAttentionCall& call) const {
  const int layer = call.layer.index;
  for (const Entry& e : entries_) {
    if (layer < 0 || layer >= e.num_layers) {
      throw Error("IP-Adapter: the UNet's attn2 number " + std::to_string(layer) +
                  " has no IP-Adapter weights (the adapter was bound to another UNet)");
    }
    const float scale = e.scales[static_cast<size_t>(layer)];
    if (scale == 0.f) continue;
    if (e.tokens.size(0) != call.query.size(0)) {
      throw Error("IP-Adapter: image tokens for a batch of " + std::to_string(e.tokens.size(0)) +
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
    const Tensor ip_out = ops::attention(call.query, k, v, call.layer.heads, call.sdpa_scale);
    call.out = ops::add_scaled(call.out, ip_out, scale);
  }
}

}  // namespace ipa
