#include "adapter/ip_layer_map.h"

#include <charconv>

namespace ipa {

std::vector<IpLayerMapEntry> ip_layer_map(const std::vector<unet::CrossAttentionLayer>& layers) {
  std::vector<IpLayerMapEntry> out;
  out.reserve(layers.size());
  for (const auto& l : layers) out.push_back({2 * l.index + 1, l.path});
  return out;
}

int num_attention_processors(const std::vector<unet::CrossAttentionLayer>& layers) {
  return static_cast<int>(2 * layers.size());
}

std::string ip_key_weight_name(int checkpoint_index) {
  return std::to_string(checkpoint_index) + ".to_k_ip.weight";
}

std::string ip_value_weight_name(int checkpoint_index) {
  return std::to_string(checkpoint_index) + ".to_v_ip.weight";
}

std::optional<IpWeightName> parse_ip_weight_name(const std::string& relative_key) {
  const auto dot = relative_key.find('.');
  if (dot == std::string::npos || dot == 0) return std::nullopt;
  int k = 0;
  const char* first = relative_key.data();
  const char* last = first + dot;
  auto [ptr, ec] = std::from_chars(first, last, k);
  if (ec != std::errc() || ptr != last || k < 0) return std::nullopt;
  const std::string rest = relative_key.substr(dot + 1);
  if (rest == "to_k_ip.weight") return IpWeightName{k, true};
  if (rest == "to_v_ip.weight") return IpWeightName{k, false};
  return std::nullopt;
}

}  // namespace ipa
