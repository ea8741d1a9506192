// IP-Adapter checkpoint index ↔ UNet cross-attention layer.
//
// Adapter files number their per-layer weights `ip_adapter.<k>.to_k_ip.weight` by the position k
// of the layer in diffusers' `unet.attn_processors` order: the UNet registers `down_blocks`, then
// `up_blocks`, then `mid_block`; inside each Transformer2DModel every BasicTransformerBlock
// registers attn1 before attn2. attn1 carries no IP weights, so attn2 number i (the UNet's
// cross_attention_layers() order) has k = 2·i + 1. Derived from the UNet's layers, never from
// a fixed table, so SD1.5 (16 layers), SDXL (70) and any tiny model of the same structure work
// alike.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "models/unet/cross_attention.h"

namespace ipa {

struct IpLayerMapEntry {
  int checkpoint_index = 0;  // k in `ip_adapter.<k>.to_k_ip.weight` (always odd)
  std::string attn2_path;    // e.g. "down_blocks.0.attentions.0.transformer_blocks.0.attn2"
};

// Every attn2, numbered like the checkpoint keys: entry i has checkpoint_index 2·i + 1.
std::vector<IpLayerMapEntry> ip_layer_map(const std::vector<unet::CrossAttentionLayer>& layers);

// Number of attention processors (attn1 and attn2) of a UNet with these attn2 layers.
int num_attention_processors(const std::vector<unet::CrossAttentionLayer>& layers);

// Checkpoint key relative to the `ip_adapter` scope: "<k>.to_k_ip.weight" / "<k>.to_v_ip.weight".
std::string ip_key_weight_name(int checkpoint_index);
std::string ip_value_weight_name(int checkpoint_index);

// A parsed relative key "<k>.to_k_ip.weight" or "<k>.to_v_ip.weight"; nullopt for anything else.
struct IpWeightName {
  int checkpoint_index = 0;
  bool is_key = true;  // to_k_ip (else to_v_ip)
};
std::optional<IpWeightName> parse_ip_weight_name(const std::string& relative_key);

}  // namespace ipa
