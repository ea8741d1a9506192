#include "weights/ip_layer_map.h"

#include <charconv>

namespace ipa {

namespace {

// Appends the attn2 paths of one block's attentions in registration order.
void add_block(const std::string& block_path, const std::vector<int>& attentions,
               std::vector<std::string>* paths) {
  for (size_t a = 0; a < attentions.size(); ++a) {
    for (int t = 0; t < attentions[a]; ++t) {
      paths->push_back(block_path + ".attentions." + std::to_string(a) + ".transformer_blocks." +
                       std::to_string(t) + ".attn2");
    }
  }
}

std::vector<std::string> attn2_paths(const UNetAttentionLayout& layout) {
  std::vector<std::string> paths;
  for (size_t b = 0; b < layout.down_blocks.size(); ++b)
    add_block("down_blocks." + std::to_string(b), layout.down_blocks[b], &paths);
  for (size_t b = 0; b < layout.up_blocks.size(); ++b)
    add_block("up_blocks." + std::to_string(b), layout.up_blocks[b], &paths);
  add_block("mid_block", layout.mid_block, &paths);
  return paths;
}

}  // namespace

std::vector<IpLayerMapEntry> ip_layer_map(const UNetAttentionLayout& layout) {
  std::vector<IpLayerMapEntry> out;
  const auto paths = attn2_paths(layout);
  out.reserve(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    out.push_back({static_cast<int>(2 * i + 1), paths[i]});
  }
  return out;
}

int num_attention_processors(const UNetAttentionLayout& layout) {
  return static_cast<int>(2 * attn2_paths(layout).size());
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
