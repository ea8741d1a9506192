// Per-layer IP-Adapter weights from the controls users know, for a UNet's attn2 layers
// (cross_attention_layers order):
// - diffusers' set_ip_adapter_scale dictionary (loaders/ip_adapter.py with
//   _maybe_expand_lora_scales): parts, blocks and transformers not named get 0; a number covers
//   a whole part or block; a list has one entry per transformer (attentions.j) of the block;
// - InstantStyle's presets and ComfyUI_IPAdapter_plus's weight types (IPAdapterPlus.py
//   ipadapter_execute and CrossAttentionPatch.py ipadapter_attention; docs/controls.md has the
//   tables and where each comes from).
// Every weight applies to all transformer blocks of one Transformer2DModel (attentions.j), as in
// both tools.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "ipadapter/request.h"
#include "ipadapter/types.h"
#include "models/unet/cross_attention.h"

namespace ipa {

// Where an attn2 sits: diffusers' part, block index, attention index (Transformer2DModel) and
// transformer block inside it.
struct LayerPlace {
  enum class Part { Down, Mid, Up };
  Part part = Part::Down;
  int block = 0;
  int attention = 0;
  int transformer = 0;
};
LayerPlace place_of(const unet::CrossAttentionLayer& layer);

// The dictionary's weight for every layer. Throws ipa::Error naming the entry for a block the
// UNet lacks or that has no attention, and for a list whose length is not the block's number
// of transformers.
// `field` names the adapter in messages (e.g. "ip_adapters[1]").
std::vector<float> resolve_block_scales(const BlockScales& scales,
                                        const std::vector<unet::CrossAttentionLayer>& layers,
                                        const std::string& field = "ip_adapter");

// The preset's weight for every layer, at scale `w` (and `wc` for the composition part of the
// presets that have one). Throws ipa::Error when the preset names a layer this UNet lacks (e.g.
// SDXL's style block on a smaller UNet).
std::vector<float> preset_scales(LayerPreset preset, ModelFamily family, float w,
                                 std::optional<float> wc,
                                 const std::vector<unet::CrossAttentionLayer>& layers,
                                 const std::string& field = "ip_adapter");

}  // namespace ipa
