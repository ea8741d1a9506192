// Attaching an IP-Adapter's per-layer weights (to_k_ip / to_v_ip) to the UNet's attn2 layers,
// and the per-layer scale controls.
#include <cmath>
#include <map>

#include "models/common/load_layers.h"
#include "models/unet/unet.h"

namespace ipa::unet {

namespace {

std::string join_keys(const std::vector<std::string>& keys, size_t max_shown) {
  std::string s;
  for (size_t i = 0; i < keys.size() && i < max_shown; ++i) s += (i ? ", " : "") + keys[i];
  if (keys.size() > max_shown) s += ", ... (" + std::to_string(keys.size()) + " in all)";
  return s;
}

void check_scale(float scale) {
  if (!std::isfinite(scale)) throw Error("IP-Adapter scale must be a finite number");
}

}  // namespace

void UNet2DConditionModel::load_ip_adapter(const WeightScope& ws) {
  const std::string label = ws.store().label();
  const std::string prefix = ws.prefix().empty() ? "" : ws.prefix() + ".";
  if (ip_layers_.empty()) {
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

  std::map<int, const IpAttnLayer*> by_index;
  for (const auto& layer : ip_layers_) by_index[layer.checkpoint_index] = &layer;

  // Token width first: an adapter for another base model (e.g. SDXL on SD1.5) fails here with
  // both shapes in the message, before the layer count would.
  for (const auto& [k, kv] : present) {
    for (bool is_key : {true, false}) {
      if (!(is_key ? kv.first : kv.second)) continue;
      const std::string rel = is_key ? ip_key_weight_name(k) : ip_value_weight_name(k);
      const Shape actual = ws.shape_of(rel);
      const auto it = by_index.find(k);
      const int64_t want_c =
          it != by_index.end() ? it->second->cross_attention_dim : config_.cross_attention_dim;
      if (actual.size() != 2 || actual[1] != want_c) {
        Shape expected = {it != by_index.end() ? it->second->inner_dim : -1, want_c};
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
  for (const auto& layer : ip_layers_) {
    const auto it = present.find(layer.checkpoint_index);
    if (it == present.end() || !it->second.first)
      missing.push_back(ws.join(ip_key_weight_name(layer.checkpoint_index)));
    if (it == present.end() || !it->second.second)
      missing.push_back(ws.join(ip_value_weight_name(layer.checkpoint_index)));
  }
  for (const auto& [k, kv] : present) {
    if (by_index.count(k)) continue;
    extra.push_back(ws.join(kv.first ? ip_key_weight_name(k) : ip_value_weight_name(k)));
  }
  if (!missing.empty() || !extra.empty()) {
    std::string msg = "the IP-Adapter has weights for " + std::to_string(present.size()) +
                      " attention layer(s) but this UNet has " + std::to_string(ip_layers_.size()) +
                      " cross-attention layers (indices 1, 3, ..., " +
                      std::to_string(2 * ip_layers_.size() - 1) + ")";
    if (!missing.empty()) msg += "; missing: " + join_keys(missing, 3);
    if (!extra.empty()) msg += "; not in this UNet: " + join_keys(extra, 3);
    throw Error(msg, label);
  }

  // Load everything first so a failure leaves the UNet untouched.
  std::vector<std::pair<ops::Linear, ops::Linear>> loaded;
  for (const auto& layer : ip_layers_) {
    const std::string k = std::to_string(layer.checkpoint_index);
    loaded.emplace_back(
        load_linear(ws, k + ".to_k_ip", layer.cross_attention_dim, layer.inner_dim, false),
        load_linear(ws, k + ".to_v_ip", layer.cross_attention_dim, layer.inner_dim, false));
  }
  for (size_t i = 0; i < ip_layers_.size(); ++i) {
    ip_layers_[i].to_k_ip = std::move(loaded[i].first);
    ip_layers_[i].to_v_ip = std::move(loaded[i].second);
    ip_layers_[i].scale = 1.f;
  }
}

void UNet2DConditionModel::unload_ip_adapter() {
  for (auto& layer : ip_layers_) {
    layer.to_k_ip = {};
    layer.to_v_ip = {};
    layer.scale = 1.f;
  }
}

bool UNet2DConditionModel::has_ip_adapter() const {
  return !ip_layers_.empty() && ip_layers_.front().loaded();
}

void UNet2DConditionModel::set_ip_scale(float scale) {
  check_scale(scale);
  for (auto& layer : ip_layers_) layer.scale = scale;
}

void UNet2DConditionModel::set_ip_scale(int layer, float scale) {
  check_scale(scale);
  ip_layer(layer);  // range check
  ip_layers_[static_cast<size_t>(layer)].scale = scale;
}

}  // namespace ipa::unet
