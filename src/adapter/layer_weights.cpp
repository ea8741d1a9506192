#include "adapter/layer_weights.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

#include "base/error.h"

namespace ipa {

namespace {

using Part = LayerPlace::Part;

const char* part_name(Part p) {
  return p == Part::Down ? "down" : p == Part::Up ? "up" : "mid";
}

// "down_blocks.1.attentions.0.transformer_blocks.3.attn2" → its place.
LayerPlace parse_path(const std::string& path) {
  LayerPlace p;
  int block = 0, attention = 0, transformer = 0;
  if (std::sscanf(path.c_str(), "down_blocks.%d.attentions.%d.transformer_blocks.%d", &block,
                  &attention, &transformer) == 3) {
    p.part = Part::Down;
  } else if (std::sscanf(path.c_str(), "up_blocks.%d.attentions.%d.transformer_blocks.%d", &block,
                         &attention, &transformer) == 3) {
    p.part = Part::Up;
  } else if (std::sscanf(path.c_str(), "mid_block.attentions.%d.transformer_blocks.%d", &attention,
                         &transformer) == 2) {
    p.part = Part::Mid;
  } else {
    throw Error("internal error: unexpected attention path " + path);
  }
  p.block = block;
  p.attention = attention;
  p.transformer = transformer;
  return p;
}

// A Transformer2DModel (diffusers' attentions.j): every transformer block of it shares one
// weight in both tools.
using Slot = std::tuple<int, int, int>;  // part order (down 0, mid 1, up 2), block, attention
Slot slot_of(const LayerPlace& p) {
  const int order = p.part == Part::Down ? 0 : p.part == Part::Mid ? 1 : 2;
  return {order, p.part == Part::Mid ? 0 : p.block, p.attention};
}

// The UNet's transformers in ComfyUI's order (input blocks, middle, output blocks): t_idx.
std::vector<Slot> transformers_in_order(const std::vector<unet::CrossAttentionLayer>& layers) {
  std::vector<Slot> slots;
  for (const auto& l : layers) slots.push_back(slot_of(place_of(l)));
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  return slots;
}

// Attentions per block of one part, for the blocks that have any.
std::map<int, int> attentions_per_block(const std::vector<unet::CrossAttentionLayer>& layers,
                                        Part part) {
  std::map<int, int> out;
  for (const auto& l : layers) {
    const LayerPlace p = place_of(l);
    if (p.part != part) continue;
    out[p.block] = std::max(out[p.block], p.attention + 1);
  }
  return out;
}

}  // namespace

LayerPlace place_of(const unet::CrossAttentionLayer& layer) {
  return parse_path(layer.path);
}

std::vector<float> resolve_block_scales(const BlockScales& s,
                                        const std::vector<unet::CrossAttentionLayer>& layers,
                                        const std::string& adapter) {
  // Per (part, block, attention): the weight; anything not named is 0 (set_ip_adapter_scale
  // passes default_scale=0.0).
  std::map<Slot, float> weights;
  for (Part part : {Part::Down, Part::Up}) {
    const std::optional<PartScales>& ps = part == Part::Down ? s.down : s.up;
    if (!ps) continue;
    const std::map<int, int> blocks = attentions_per_block(layers, part);
    const int order = part == Part::Down ? 0 : 2;
    if (ps->all && !ps->blocks.empty()) {
      throw Error(adapter + ".scale." + part_name(part) +
                  ": give one number for the part or a block_<i> table, not both");
    }
    if (ps->all) {
      for (const auto& [block, n] : blocks) {
        for (int a = 0; a < n; ++a) weights[{order, block, a}] = *ps->all;
      }
    }
    for (const auto& [block, values] : ps->blocks) {
      const std::string field =
          adapter + ".scale." + part_name(part) + ".block_" + std::to_string(block);
      const auto it = blocks.find(block);
      if (it == blocks.end()) {
        std::string have;
        for (const auto& [b, n] : blocks) have += (have.empty() ? "" : ", ") + std::to_string(b);
        throw Error(field + ": this UNet's " + part_name(part) + "_blocks." +
                    std::to_string(block) + " has no attention layers (blocks with attention: " +
                    (have.empty() ? std::string("none") : have) + ")");
      }
      const int n = it->second;
      if (values.size() != 1 && static_cast<int>(values.size()) != n) {
        throw Error(field + ": " + std::to_string(values.size()) + " values for a block with " +
                    std::to_string(n) + " transformer(s) (give one number for all, or one per " +
                    "transformer)");
      }
      for (int a = 0; a < n; ++a) {
        weights[{order, block, a}] =
            values.size() == 1 ? values[0] : values[static_cast<size_t>(a)];
      }
    }
  }
  if (s.mid) {
    bool any = false;
    for (const auto& l : layers) any = any || place_of(l).part == Part::Mid;
    if (!any) throw Error(adapter + ".scale.mid: this UNet's mid block has no attention layers");
    weights[{1, 0, 0}] = *s.mid;
  }
  std::vector<float> out;
  for (const auto& l : layers) {
    const auto it = weights.find(slot_of(place_of(l)));
    out.push_back(it == weights.end() ? 0.f : it->second);
  }
  return out;
}

namespace {

// One entry of a preset table: a transformer (part, block, attention) and its weight as
// a · w + b · wc.
struct Entry {
  Part part;
  int block, attention;
  double of_w, of_wc;
};

// ComfyUI_IPAdapter_plus's dictionaries (IPAdapterPlus.py ipadapter_execute), written by place
// instead of by t_idx (SD1.5: t 0-5 = down_blocks.0-2.attentions.0-1, 6 = mid, 7-15 =
// up_blocks.1-3.attentions.0-2; SDXL: 0-3 = down_blocks.1-2.attentions.0-1, 4 = mid, 5-10 =
// up_blocks.0-1.attentions.0-2).
std::vector<Entry> sd15_style() {
  return {{Part::Down, 0, 0, 1, 0}, {Part::Down, 0, 1, 1, 0}, {Part::Down, 1, 0, 1, 0},
          {Part::Down, 1, 1, 1, 0}, {Part::Up, 1, 2, 1, 0},   {Part::Up, 2, 0, 1, 0},
          {Part::Up, 2, 1, 1, 0},   {Part::Up, 2, 2, 1, 0},   {Part::Up, 3, 0, 1, 0},
          {Part::Up, 3, 1, 1, 0},   {Part::Up, 3, 2, 1, 0}};
}
std::vector<Entry> sd15_composition(bool from_wc) {
  // {4: 0.25·w, 5: w} (composition) or {4: 0.25·wc, 5: wc} (with style)
  return {{Part::Down, 2, 0, from_wc ? 0.0 : 0.25, from_wc ? 0.25 : 0.0},
          {Part::Down, 2, 1, from_wc ? 0.0 : 1.0, from_wc ? 1.0 : 0.0}};
}
std::vector<Entry> sdxl_style() {
  return {{Part::Up, 0, 1, 1, 0}};  // t 6
}
std::vector<Entry> sdxl_composition(bool from_wc) {
  return {{Part::Down, 2, 1, from_wc ? 0.0 : 1.0, from_wc ? 1.0 : 0.0}};  // t 3
}

std::vector<Entry> concat(std::vector<Entry> a, const std::vector<Entry>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

std::vector<float> preset_scales(LayerPreset preset, ModelFamily family, float w_in,
                                 std::optional<float> wc_in,
                                 const std::vector<unet::CrossAttentionLayer>& layers,
                                 const std::string& adapter) {
  const double w = w_in;
  const std::vector<Slot> order = transformers_in_order(layers);
  const double L = static_cast<double>(order.size());
  auto t_of = [&](const unet::CrossAttentionLayer& l) {
    return static_cast<double>(std::lower_bound(order.begin(), order.end(), slot_of(place_of(l))) -
                               order.begin());
  };
  std::vector<float> out;
  // The formula types (CrossAttentionPatch.py ipadapter_attention): a factor per layer.
  auto per_layer = [&](auto factor) {
    for (const auto& l : layers) out.push_back(static_cast<float>(w * factor(l)));
    return out;
  };
  switch (preset) {
    case LayerPreset::None:
    case LayerPreset::Linear:
      return per_layer([](const auto&) { return 1.0; });
    case LayerPreset::EaseIn:
      return per_layer([&](const auto& l) { return 0.05 + 0.95 * (1 - t_of(l) / L); });
    case LayerPreset::EaseOut:
      return per_layer([&](const auto& l) { return 0.05 + 0.95 * (t_of(l) / L); });
    case LayerPreset::EaseInOut:
      return per_layer(
          [&](const auto& l) { return 0.05 + 0.95 * (1 - std::abs(t_of(l) - L / 2) / (L / 2)); });
    case LayerPreset::ReverseInOut:
      return per_layer(
          [&](const auto& l) { return 0.05 + 0.95 * (std::abs(t_of(l) - L / 2) / (L / 2)); });
    case LayerPreset::WeakInput:
      return per_layer([](const auto& l) { return place_of(l).part == Part::Down ? 0.2 : 1.0; });
    case LayerPreset::WeakOutput:
      return per_layer([](const auto& l) { return place_of(l).part == Part::Up ? 0.2 : 1.0; });
    case LayerPreset::WeakMiddle:
      return per_layer([](const auto& l) { return place_of(l).part == Part::Mid ? 0.2 : 1.0; });
    case LayerPreset::StrongMiddle:
      return per_layer([](const auto& l) { return place_of(l).part == Part::Mid ? 1.0 : 0.2; });
    default:
      break;
  }

  // The table types: named transformers get a weight, the others none.
  const bool xl = family == ModelFamily::SDXL;
  const double wc = wc_in ? *wc_in : w;
  std::vector<Entry> table;
  bool all_but = false;  // "strong style transfer": every transformer but the table's
  switch (preset) {
    case LayerPreset::Style:
    case LayerPreset::StyleTransfer:
      table = xl ? sdxl_style() : sd15_style();
      break;
    case LayerPreset::Composition:
      table = xl ? sdxl_composition(false) : sd15_composition(false);
      break;
    case LayerPreset::StyleAndComposition:
      table = xl ? concat(sdxl_style(), sdxl_composition(true))
                 : concat(sd15_style(), sd15_composition(true));
      break;
    case LayerPreset::StyleAndCompositionComfy: {
      // ComfyUI's IPAdapterAdvanced has no weight_composition input: the composition layers
      // get 1.0 unless one is given.
      table = xl ? concat(sdxl_style(), sdxl_composition(true))
                 : concat(sd15_style(), sd15_composition(true));
      break;
    }
    case LayerPreset::StrongStyleTransfer:
      table = xl ? sdxl_composition(false) : sd15_composition(false);
      all_but = true;
      break;
    default:
      throw Error(adapter + ".preset: '" + layer_preset_name(preset) + "' is not supported");
  }
  const double wc_used =
      preset == LayerPreset::StyleAndCompositionComfy ? (wc_in ? *wc_in : 1.0) : wc;
  std::map<Slot, double> weights;
  for (const Entry& e : table) {
    const Slot s = slot_of({e.part, e.block, e.attention, 0});
    if (!std::binary_search(order.begin(), order.end(), s)) {
      throw Error(adapter + ".preset: '" + layer_preset_name(preset) + "' for " +
                  family_name(family) + " uses " + part_name(e.part) +
                  (e.part == Part::Mid ? "_block" : "_blocks." + std::to_string(e.block)) +
                  ".attentions." + std::to_string(e.attention) +
                  ", which this UNet does not have (the presets are made for the released " +
                  family_name(family) + " layout)");
    }
    weights[s] = e.of_w * w + e.of_wc * wc_used;
  }
  for (const auto& l : layers) {
    const auto it = weights.find(slot_of(place_of(l)));
    double v = it == weights.end() ? 0.0 : it->second;
    if (all_but) v = it == weights.end() ? w : 0.0;
    out.push_back(static_cast<float>(v));
  }
  return out;
}

}  // namespace ipa
