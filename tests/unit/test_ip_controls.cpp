// The image-prompt controls, each against an independent reference written here:
//  1. IpControlsPresets      preset_scales() on the released SD1.5 (16 attn2) and SDXL (70 attn2)
//                            layouts vs the tables / formulas of docs/controls-sources.md §0-§1
//                            (ComfyUI_IPAdapter_plus weight types, InstantStyle blocks), written
//                            here by ComfyUI transformer index t_idx.
//  2. IpControlsBlockScales  resolve_block_scales() (diffusers' set_ip_adapter_scale dictionary)
//                            on the SDXL layout vs hand-picked layers, and its errors.
//  3. IpControlsCombine      combine_features() / repeat_rows_to() vs naive loops in double.
//  4. IpControlsAttention    IpAttention::extend() on synthetic layers and weights vs a
//                            double-precision decoupled attention (embeds scalings, masks, layer
//                            scale 0, the step window).
//  5. IpControlsCli          bad requests through `ipadapter generate --request` on the tiny
//                            models of tests/data: each refused, naming the field.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "adapter/image_prompt.h"
#include "adapter/ip_attention.h"
#include "adapter/layer_weights.h"
#include "formats/safetensors.h"
#include "ipadapter/io.h"
#include "ipadapter/request.h"
#include "ipadapter/request_json.h"
#include "models/unet/config.h"
#include "models/unet/cross_attention.h"
#include "ops/ops.h"
#include "test_support.h"
#include "weights/weight_store.h"

namespace fs = std::filesystem;

namespace ipa {
namespace {

using nlohmann::json;
using test::contains;

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

std::vector<unet::CrossAttentionLayer> released_layers(ModelFamily family) {
  const std::string dir = family == ModelFamily::SDXL ? "sdxl" : "sd15";
  return unet::cross_attention_layers(unet::load_unet_config(
      std::string(IPA_SOURCE_DIR) + "/configs/" + dir + "/unet/config.json"));
}

// =================================================================================================
// 1. Presets / ComfyUI weight types on the released layouts
// =================================================================================================

// ComfyUI's transformer index t_idx (one per SpatialTransformer = diffusers attentions.j, in
// input, middle, output order) and its diffusers path: docs/controls-sources.md's §0 tables.
enum class Kind { Input, Middle, Output };
struct ComfyTransformer {
  const char* prefix;
  Kind kind;
};
const std::vector<ComfyTransformer>& comfy_transformers(ModelFamily family) {
  static const std::vector<ComfyTransformer> sd15 = {
      {"down_blocks.0.attentions.0", Kind::Input},  // t 0  (input 1)
      {"down_blocks.0.attentions.1", Kind::Input},  // t 1  (input 2)
      {"down_blocks.1.attentions.0", Kind::Input},  // t 2  (input 4)
      {"down_blocks.1.attentions.1", Kind::Input},  // t 3  (input 5)
      {"down_blocks.2.attentions.0", Kind::Input},  // t 4  (input 7)
      {"down_blocks.2.attentions.1", Kind::Input},  // t 5  (input 8)
      {"mid_block.attentions.0", Kind::Middle},     // t 6
      {"up_blocks.1.attentions.0", Kind::Output},   // t 7  (output 3)
      {"up_blocks.1.attentions.1", Kind::Output},   // t 8
      {"up_blocks.1.attentions.2", Kind::Output},   // t 9
      {"up_blocks.2.attentions.0", Kind::Output},   // t 10 (output 6)
      {"up_blocks.2.attentions.1", Kind::Output},   // t 11
      {"up_blocks.2.attentions.2", Kind::Output},   // t 12
      {"up_blocks.3.attentions.0", Kind::Output},   // t 13 (output 9)
      {"up_blocks.3.attentions.1", Kind::Output},   // t 14
      {"up_blocks.3.attentions.2", Kind::Output},   // t 15
  };
  static const std::vector<ComfyTransformer> sdxl = {
      {"down_blocks.1.attentions.0", Kind::Input},  // t 0  (input 4, depth 2)
      {"down_blocks.1.attentions.1", Kind::Input},  // t 1  (input 5, depth 2)
      {"down_blocks.2.attentions.0", Kind::Input},  // t 2  (input 7, depth 10)
      {"down_blocks.2.attentions.1", Kind::Input},  // t 3  (input 8: InstantStyle "layout")
      {"mid_block.attentions.0", Kind::Middle},     // t 4
      {"up_blocks.0.attentions.0", Kind::Output},   // t 5  (output 0)
      {"up_blocks.0.attentions.1", Kind::Output},   // t 6  (output 1: InstantStyle "style")
      {"up_blocks.0.attentions.2", Kind::Output},   // t 7
      {"up_blocks.1.attentions.0", Kind::Output},   // t 8  (output 3, depth 2)
      {"up_blocks.1.attentions.1", Kind::Output},   // t 9
      {"up_blocks.1.attentions.2", Kind::Output},   // t 10
  };
  return family == ModelFamily::SDXL ? sdxl : sd15;
}

int t_idx_of(const std::string& path, ModelFamily family) {
  const auto& table = comfy_transformers(family);
  for (size_t t = 0; t < table.size(); ++t) {
    if (starts_with(path, std::string(table[t].prefix) + ".transformer_blocks.")) {
      return static_cast<int>(t);
    }
  }
  return -1;
}

// Every preset name of the request schema.
const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = {"style",
                                                 "composition",
                                                 "style_and_composition",
                                                 "linear",
                                                 "ease in",
                                                 "ease out",
                                                 "ease in-out",
                                                 "reverse in-out",
                                                 "weak input",
                                                 "weak output",
                                                 "weak middle",
                                                 "strong middle",
                                                 "style transfer",
                                                 "strong style transfer",
                                                 "style and composition"};
  return names;
}

// The weight of every layer under preset `name` at weight w (and weight_composition wc), from the
// docs/controls-sources.md §1 (a) formulas (CrossAttentionPatch.py ipadapter_attention) with L = number of
// t_idx values, §1 (b) dictionaries (IPAdapterPlus.py ipadapter_execute; absent t → 0), and
// InstantStyle's presets (style_and_composition: wc defaults to w; ComfyUI's "style and
// composition": wc defaults to 1.0, IPAdapterAdvanced has no weight_composition input). The
// middle entries apply (the engine follows the tables, not today's unpatched ComfyUI middle).
// wc: NaN = not given.
std::vector<double> expected_preset(const std::string& name, ModelFamily family, double w,
                                    double wc,
                                    const std::vector<unet::CrossAttentionLayer>& layers) {
  const bool xl = family == ModelFamily::SDXL;
  const auto& table = comfy_transformers(family);
  const double L = static_cast<double>(table.size());

  std::function<double(double t, Kind k)> factor;  // formula types: w · factor
  std::optional<std::map<int, double>> dict;       // table types: t → weight
  auto style_set = [&]() -> std::vector<int> {
    if (xl) return {6};
    return {0, 1, 2, 3, 9, 10, 11, 12, 13, 14, 15};
  };
  auto add_composition = [&](std::map<int, double>& d, double v) {
    if (xl) {
      d[3] = v;
    } else {
      d[4] = 0.25 * v;
      d[5] = v;
    }
  };
  if (name == "linear") {
    factor = [](double, Kind) { return 1.0; };
  } else if (name == "ease in") {
    factor = [L](double t, Kind) { return 0.05 + 0.95 * (1 - t / L); };
  } else if (name == "ease out") {
    factor = [L](double t, Kind) { return 0.05 + 0.95 * (t / L); };
  } else if (name == "ease in-out") {
    factor = [L](double t, Kind) { return 0.05 + 0.95 * (1 - std::abs(t - L / 2) / (L / 2)); };
  } else if (name == "reverse in-out") {
    factor = [L](double t, Kind) { return 0.05 + 0.95 * (std::abs(t - L / 2) / (L / 2)); };
  } else if (name == "weak input") {
    factor = [](double, Kind k) { return k == Kind::Input ? 0.2 : 1.0; };
  } else if (name == "weak output") {
    factor = [](double, Kind k) { return k == Kind::Output ? 0.2 : 1.0; };
  } else if (name == "weak middle") {
    factor = [](double, Kind k) { return k == Kind::Middle ? 0.2 : 1.0; };
  } else if (name == "strong middle") {
    factor = [](double, Kind k) { return k == Kind::Middle ? 1.0 : 0.2; };
  } else if (name == "style" || name == "style transfer") {
    dict.emplace();
    for (int t : style_set()) (*dict)[t] = w;
  } else if (name == "composition") {
    dict.emplace();
    add_composition(*dict, w);
  } else if (name == "style_and_composition" || name == "style and composition") {
    dict.emplace();
    for (int t : style_set()) (*dict)[t] = w;
    const double wc_default = name == "style_and_composition" ? w : 1.0;
    add_composition(*dict, std::isnan(wc) ? wc_default : wc);
  } else if (name == "strong style transfer") {
    dict.emplace();
    const std::set<int> except = xl ? std::set<int>{3} : std::set<int>{4, 5};
    for (int t = 0; t < static_cast<int>(table.size()); ++t) {
      if (!except.count(t)) (*dict)[t] = w;
    }
  } else {
    ADD_FAILURE() << "no reference for preset '" << name << "'";
  }

  std::vector<double> out;
  for (const auto& l : layers) {
    const int t = t_idx_of(l.path, family);
    EXPECT_GE(t, 0) << l.path << " has no ComfyUI t_idx in the table";
    if (t < 0) {
      out.push_back(NAN);
    } else if (dict) {
      out.push_back(dict->count(t) ? dict->at(t) : 0.0);
    } else {
      out.push_back(w * factor(t, table[static_cast<size_t>(t)].kind));
    }
  }
  return out;
}

void expect_same_weights(const std::vector<float>& got, const std::vector<double>& want,
                         const std::vector<unet::CrossAttentionLayer>& layers) {
  ASSERT_EQ(got.size(), layers.size());
  ASSERT_EQ(want.size(), layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-6) << layers[i].path;
  }
}

// The real layouts have the size the note's tables assume, and every attn2 has a t_idx (all 16 /
// 11 transformers present): the reference tables fit the configs.
TEST(IpControlsPresets, ReleasedLayoutsMatchTheTables) {
  for (ModelFamily family : {ModelFamily::SD15, ModelFamily::SDXL}) {
    const auto layers = released_layers(family);
    EXPECT_EQ(layers.size(), family == ModelFamily::SDXL ? 70u : 16u);
    std::set<int> seen;
    for (const auto& l : layers) seen.insert(t_idx_of(l.path, family));
    EXPECT_EQ(seen.size(), comfy_transformers(family).size()) << family_name(family);
    EXPECT_FALSE(seen.count(-1)) << family_name(family);
  }
}

// Every preset name, on both families, at w = 0.7 with weight_composition unset and 0.45:
// preset_scales vs expected_preset (docs/controls-sources.md's tables and formulas), every layer.
TEST(IpControlsPresets, EveryPresetMatchesTheResearchTables) {
  const float w = 0.7f;
  for (ModelFamily family : {ModelFamily::SD15, ModelFamily::SDXL}) {
    const auto layers = released_layers(family);
    for (const std::string& name : preset_names()) {
      const auto preset = parse_layer_preset(name);
      ASSERT_TRUE(preset) << name;
      EXPECT_EQ(std::string(layer_preset_name(*preset)), name);
      for (std::optional<float> wc : {std::optional<float>(), std::optional<float>(0.45f)}) {
        SCOPED_TRACE(std::string(family_name(family)) + " '" + name +
                     "' wc=" + (wc ? std::to_string(*wc) : std::string("unset")));
        const std::vector<float> got = preset_scales(*preset, family, w, wc, layers);
        const double wcd = wc ? static_cast<double>(*wc) : NAN;
        expect_same_weights(got, expected_preset(name, family, w, wcd, layers), layers);
      }
    }
  }
}

// The schema lists exactly these presets (and "none" is not offered as a name to pick).
TEST(IpControlsPresets, SchemaListsEveryPreset) {
  std::vector<std::string> listed = layer_preset_names();
  std::vector<std::string> want = preset_names();
  std::sort(listed.begin(), listed.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(listed, want);
  EXPECT_FALSE(parse_layer_preset("ease sideways"));
}

// Hand spot checks, by diffusers path (InstantStyle's blocks; ComfyUI SD1.5 composition 0.25·w).
TEST(IpControlsPresets, SpotValuesByHand) {
  const float w = 0.7f;
  const auto xl = released_layers(ModelFamily::SDXL);
  const auto sd = released_layers(ModelFamily::SD15);
  auto by_path = [](const std::vector<unet::CrossAttentionLayer>& layers,
                    const std::vector<float>& v, const std::string& prefix, float inside,
                    float outside) {
    ASSERT_EQ(v.size(), layers.size());
    int n = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
      const bool in = starts_with(layers[i].path, prefix);
      n += in;
      EXPECT_FLOAT_EQ(v[i], in ? inside : outside) << prefix << " vs " << layers[i].path;
    }
    EXPECT_GT(n, 0) << prefix;
  };
  // SDXL style: only up_blocks.0.attentions.1 (its 10 transformers).
  by_path(xl, preset_scales(LayerPreset::Style, ModelFamily::SDXL, w, {}, xl),
          "up_blocks.0.attentions.1.", w, 0.f);
  by_path(xl, preset_scales(LayerPreset::StyleTransfer, ModelFamily::SDXL, w, {}, xl),
          "up_blocks.0.attentions.1.", w, 0.f);
  // SDXL composition: only down_blocks.2.attentions.1.
  by_path(xl, preset_scales(LayerPreset::Composition, ModelFamily::SDXL, w, {}, xl),
          "down_blocks.2.attentions.1.", w, 0.f);
  // SDXL strong style transfer: all but down_blocks.2.attentions.1, the middle included.
  by_path(xl, preset_scales(LayerPreset::StrongStyleTransfer, ModelFamily::SDXL, w, {}, xl),
          "down_blocks.2.attentions.1.", 0.f, w);
  // SDXL weak middle / strong middle: the mid block's 10 transformers (the engine patches mid).
  by_path(xl, preset_scales(LayerPreset::WeakMiddle, ModelFamily::SDXL, w, {}, xl), "mid_block.",
          0.2f * w, w);
  by_path(xl, preset_scales(LayerPreset::StrongMiddle, ModelFamily::SDXL, w, {}, xl), "mid_block.",
          w, 0.2f * w);
  // SD1.5 composition: down_blocks.2.attentions.0 = 0.25·w, .1 = w, nothing else.
  {
    const auto v = preset_scales(LayerPreset::Composition, ModelFamily::SD15, w, {}, sd);
    for (size_t i = 0; i < sd.size(); ++i) {
      const std::string& p = sd[i].path;
      const float want = starts_with(p, "down_blocks.2.attentions.0.")   ? 0.25f * w
                         : starts_with(p, "down_blocks.2.attentions.1.") ? w
                                                                         : 0.f;
      EXPECT_FLOAT_EQ(v[i], want) << p;
    }
  }
  // SDXL "style and composition" (ComfyUI): composition layer 1.0 unless wc given; style layer w.
  {
    const auto v =
        preset_scales(LayerPreset::StyleAndCompositionComfy, ModelFamily::SDXL, w, {}, xl);
    const auto v45 =
        preset_scales(LayerPreset::StyleAndCompositionComfy, ModelFamily::SDXL, w, 0.45f, xl);
    const auto is = preset_scales(LayerPreset::StyleAndComposition, ModelFamily::SDXL, w, {}, xl);
    for (size_t i = 0; i < xl.size(); ++i) {
      const std::string& p = xl[i].path;
      const bool comp = starts_with(p, "down_blocks.2.attentions.1.");
      const bool style = starts_with(p, "up_blocks.0.attentions.1.");
      EXPECT_FLOAT_EQ(v[i], comp ? 1.f : style ? w : 0.f) << p;
      EXPECT_FLOAT_EQ(v45[i], comp ? 0.45f : style ? w : 0.f) << p;
      EXPECT_FLOAT_EQ(is[i], comp || style ? w : 0.f) << p;  // InstantStyle: wc defaults to w
    }
  }
  // The numbers of the note's factor table (not recomputed): SD1.5 ease in t=1 = .940625,
  // SD1.5 ease in-out t=8 = 1, SDXL ease in-out t=4 (mid) = .740909, SDXL reverse in-out t=5 =
  // .136364, SD1.5 ease out t=15 = .940625.
  auto at = [](const std::vector<unet::CrossAttentionLayer>& layers, const std::vector<float>& v,
               const std::string& prefix) {
    for (size_t i = 0; i < layers.size(); ++i) {
      if (starts_with(layers[i].path, prefix)) return v[i];
    }
    ADD_FAILURE() << "no layer " << prefix;
    return NAN;
  };
  EXPECT_NEAR(at(sd, preset_scales(LayerPreset::EaseIn, ModelFamily::SD15, w, {}, sd),
                 "down_blocks.0.attentions.1."),
              0.940625 * w, 1e-6);
  EXPECT_NEAR(at(sd, preset_scales(LayerPreset::EaseInOut, ModelFamily::SD15, w, {}, sd),
                 "up_blocks.1.attentions.1."),
              1.0 * w, 1e-6);
  EXPECT_NEAR(at(sd, preset_scales(LayerPreset::EaseOut, ModelFamily::SD15, w, {}, sd),
                 "up_blocks.3.attentions.2."),
              0.940625 * w, 1e-6);
  EXPECT_NEAR(
      at(xl, preset_scales(LayerPreset::EaseInOut, ModelFamily::SDXL, w, {}, xl), "mid_block."),
      0.740909 * w, 1e-6);
  EXPECT_NEAR(at(xl, preset_scales(LayerPreset::ReverseInOut, ModelFamily::SDXL, w, {}, xl),
                 "up_blocks.0.attentions.0."),
              0.136364 * w, 1e-6);
}

// =================================================================================================
// 2. diffusers' per-block dictionaries (resolve_block_scales) on the SDXL layout
// =================================================================================================

// The weight each SDXL layer should get from a rule on its path.
std::vector<float> by_rule(const std::vector<unet::CrossAttentionLayer>& layers,
                           const std::function<float(const std::string&)>& rule) {
  std::vector<float> out;
  for (const auto& l : layers) out.push_back(rule(l.path));
  return out;
}

PartScales part_blocks(std::map<int, std::vector<float>> blocks) {
  PartScales p;
  p.blocks = std::move(blocks);
  return p;
}

// InstantStyle's style {"up": {"block_0": [0.0, 1.0, 0.0]}}: 1.0 exactly on
// up_blocks.0.attentions.1.*.
TEST(IpControlsBlockScales, InstantStyleStyleBlock) {
  const auto layers = released_layers(ModelFamily::SDXL);
  BlockScales s;
  s.up = part_blocks({{0, {0.f, 1.f, 0.f}}});
  EXPECT_EQ(resolve_block_scales(s, layers), by_rule(layers, [](const std::string& p) {
              return starts_with(p, "up_blocks.0.attentions.1.") ? 1.f : 0.f;
            }));
}

// InstantStyle's layout {"down": {"block_2": [0.0, 1.0]}}: 1.0 exactly on
// down_blocks.2.attentions.1.*.
TEST(IpControlsBlockScales, InstantStyleLayoutBlock) {
  const auto layers = released_layers(ModelFamily::SDXL);
  BlockScales s;
  s.down = part_blocks({{2, {0.f, 1.f}}});
  EXPECT_EQ(resolve_block_scales(s, layers), by_rule(layers, [](const std::string& p) {
              return starts_with(p, "down_blocks.2.attentions.1.") ? 1.f : 0.f;
            }));
}

// A number for a part covers every block with attention of it; a one-element list is broadcast
// over the block's transformers; "mid" covers the mid block; everything not named is 0.
TEST(IpControlsBlockScales, NumbersListsAndMid) {
  const auto layers = released_layers(ModelFamily::SDXL);
  {
    BlockScales s;
    s.down = PartScales{0.5f, {}};
    EXPECT_EQ(resolve_block_scales(s, layers), by_rule(layers, [](const std::string& p) {
                return starts_with(p, "down_blocks.") ? 0.5f : 0.f;
              }));
  }
  {
    BlockScales s;
    s.up = part_blocks({{1, {0.3f}}});
    s.down = part_blocks({{1, {0.25f, 0.75f}}});
    s.mid = 0.8f;
    EXPECT_EQ(resolve_block_scales(s, layers), by_rule(layers, [](const std::string& p) {
                if (starts_with(p, "up_blocks.1.")) return 0.3f;
                if (starts_with(p, "down_blocks.1.attentions.0.")) return 0.25f;
                if (starts_with(p, "down_blocks.1.attentions.1.")) return 0.75f;
                if (starts_with(p, "mid_block.")) return 0.8f;
                return 0.f;
              }));
  }
  {
    BlockScales s;  // nothing named: all 0 (set_ip_adapter_scale's default_scale=0.0)
    EXPECT_EQ(resolve_block_scales(s, layers), std::vector<float>(layers.size(), 0.f));
  }
}

// The JSON forms (number for a part, number for a block, list, one-element "mid" list) parse into
// the dictionary that resolves as above.
TEST(IpControlsBlockScales, JsonFormsResolveTheSame) {
  const auto layers = released_layers(ModelFamily::SDXL);
  json j;
  j["ip_adapters"] = {{{"file", "adapter.safetensors"},
                       {"images", json::array()},
                       {"scale",
                        {{"down", {{"block_2", 0.6}}},
                         {"up", {{"block_0", {0.0, 1.0, 0.0}}, {"block_1", 0.4}}},
                         {"mid", {0.9}}}}}};
  const ParsedRequest pr = parse_request_json(j.dump(), file_request_sources(""));
  ASSERT_EQ(pr.request.image_prompts.size(), 1u);
  ASSERT_TRUE(pr.request.image_prompts[0].block_scales);
  EXPECT_EQ(resolve_block_scales(*pr.request.image_prompts[0].block_scales, layers),
            by_rule(layers, [](const std::string& p) {
              if (starts_with(p, "down_blocks.2.")) return 0.6f;
              if (starts_with(p, "up_blocks.0.attentions.1.")) return 1.f;
              if (starts_with(p, "up_blocks.1.")) return 0.4f;
              if (starts_with(p, "mid_block.")) return 0.9f;
              return 0.f;
            }));
  json k = j;
  k["ip_adapters"][0]["scale"] = {{"down", 0.3}};
  const ParsedRequest pk = parse_request_json(k.dump(), file_request_sources(""));
  ASSERT_TRUE(pk.request.image_prompts.at(0).block_scales);
  EXPECT_EQ(resolve_block_scales(*pk.request.image_prompts[0].block_scales, layers),
            by_rule(layers, [](const std::string& p) {
              return starts_with(p, "down_blocks.") ? 0.3f : 0.f;
            }));
}

// Errors naming the entry: a block without attention (SDXL down block_0), one past the last,
// a list of the wrong length.
TEST(IpControlsBlockScales, ErrorsNameTheBlock) {
  const auto layers = released_layers(ModelFamily::SDXL);
  {
    BlockScales s;
    s.down = part_blocks({{0, {1.f}}});
    const std::string e = test::error_of([&] { resolve_block_scales(s, layers); });
    EXPECT_TRUE(contains(e, "down")) << e;
    EXPECT_TRUE(contains(e, "block_0")) << e;
  }
  {
    BlockScales s;
    s.up = part_blocks({{7, {1.f}}});
    const std::string e = test::error_of([&] { resolve_block_scales(s, layers); });
    EXPECT_TRUE(contains(e, "up")) << e;
    EXPECT_TRUE(contains(e, "block_7")) << e;
  }
  {
    BlockScales s;
    s.up = part_blocks({{0, {0.f, 1.f}}});  // up blocks have 3 attentions
    const std::string e = test::error_of([&] { resolve_block_scales(s, layers); });
    EXPECT_TRUE(contains(e, "block_0")) << e;
  }
  {
    BlockScales s;
    s.down = part_blocks({{2, {0.f, 1.f, 0.f}}});  // down blocks have 2 attentions
    const std::string e = test::error_of([&] { resolve_block_scales(s, layers); });
    EXPECT_TRUE(contains(e, "block_2")) << e;
  }
}

// =================================================================================================
// 3. combine_features and repeat_rows_to
// =================================================================================================

// add / subtract / average / norm_average of a random [3, 5, 4] vs the formulas of the note §2 in
// double (norm average: L2 norm across the images, per element); concat returns the input.
TEST(IpControlsCombine, AgainstNaiveLoops) {
  const int64_t N = 3, P = 5 * 4;
  const Tensor f = test::random_tensor({N, 5, 4}, 17);
  const std::vector<float> x = f.to_floats();
  auto e = [&](int64_t i, int64_t j) {
    return static_cast<double>(x[static_cast<size_t>(i * P + j)]);
  };
  struct Mode {
    CombineImages mode;
    std::function<double(int64_t)> ref;
  };
  const std::vector<Mode> modes = {
      {CombineImages::Add, [&](int64_t j) { return e(0, j) + e(1, j) + e(2, j); }},
      {CombineImages::Subtract, [&](int64_t j) { return e(0, j) - (e(1, j) + e(2, j)) / 2; }},
      {CombineImages::Average, [&](int64_t j) { return (e(0, j) + e(1, j) + e(2, j)) / 3; }},
      {CombineImages::NormAverage,
       [&](int64_t j) {
         const double norm = std::sqrt(e(0, j) * e(0, j) + e(1, j) * e(1, j) + e(2, j) * e(2, j));
         return (e(0, j) / norm + e(1, j) / norm + e(2, j) / norm) / 3;
       }},
  };
  for (const Mode& m : modes) {
    SCOPED_TRACE(combine_name(m.mode));
    const Tensor got = combine_features(f, m.mode);
    ASSERT_EQ(got.shape(), (Shape{1, 5, 4}));
    const std::vector<float> g = got.to_floats();
    for (int64_t j = 0; j < P; ++j) {
      const double want = m.ref(j);
      EXPECT_NEAR(g[static_cast<size_t>(j)], want, 1e-6 * std::max(1.0, std::abs(want))) << j;
    }
  }
  const Tensor same = combine_features(f, CombineImages::Concat);
  EXPECT_EQ(same.shape(), f.shape());
  EXPECT_EQ(same.to_floats(), x);
}

// repeat_rows_to: 1 row → 3 copies; 4 rows → the first 2; 2 rows → 4 with the last repeated.
TEST(IpControlsCombine, RepeatRowsTo) {
  const Tensor one = test::random_tensor({1, 2, 3}, 5);
  const Tensor four = test::random_tensor({4, 2, 3}, 6);
  const std::vector<float> o = one.to_floats(), f = four.to_floats();
  auto rows = [](const std::vector<float>& v, std::vector<int> which) {
    std::vector<float> out;
    for (int r : which) out.insert(out.end(), v.begin() + r * 6, v.begin() + (r + 1) * 6);
    return out;
  };
  const Tensor a = repeat_rows_to(one, 3);
  EXPECT_EQ(a.shape(), (Shape{3, 2, 3}));
  EXPECT_EQ(a.to_floats(), rows(o, {0, 0, 0}));
  const Tensor b = repeat_rows_to(four, 2);
  EXPECT_EQ(b.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(b.to_floats(), rows(f, {0, 1}));
  const Tensor c = repeat_rows_to(ops::slice(four, 0, 0, 2), 4);
  EXPECT_EQ(c.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(c.to_floats(), rows(f, {0, 1, 1, 1}));
}

// =================================================================================================
// 4. IpAttention::extend on synthetic layers vs a double-precision reference
// =================================================================================================

// Two hand-made attn2 layers of different widths (inner 16 and 640, so the C penalty is 1/80 and
// 1/2; query_dim differs from inner_dim on purpose) and random to_k_ip / to_v_ip weights.
struct Synthetic {
  static constexpr int64_t kCtx = 12;  // cross_attention_dim (image token width)
  std::vector<unet::CrossAttentionLayer> layers;
  WeightStore store;
  std::vector<std::vector<double>> wk, wv;  // per layer [inner, kCtx], row-major
  IpAttentionWeights weights;

  Synthetic() {
    layers.push_back({0, "down_blocks.0.attentions.0.transformer_blocks.0.attn2", 2, 8, 24, kCtx});
    layers.push_back({1, "up_blocks.0.attentions.0.transformer_blocks.0.attn2", 4, 160, 320, kCtx});
    store.set_label("synthetic");
    for (const auto& l : layers) {
      const int k = 2 * l.index + 1;
      const Tensor tk = test::random_tensor({l.inner_dim(), kCtx}, 100 + k, -0.5f, 0.5f);
      const Tensor tv = test::random_tensor({l.inner_dim(), kCtx}, 200 + k, -0.5f, 0.5f);
      store.add("ip_adapter." + std::to_string(k) + ".to_k_ip.weight", tk, "synthetic");
      store.add("ip_adapter." + std::to_string(k) + ".to_v_ip.weight", tv, "synthetic");
      const auto fk = tk.to_floats(), fv = tv.to_floats();
      wk.emplace_back(fk.begin(), fk.end());
      wv.emplace_back(fv.begin(), fv.end());
    }
    weights = IpAttentionWeights::load(store.scope("ip_adapter"), layers);
  }
};

std::vector<double> to_doubles(const Tensor& t) {
  const std::vector<float> f = t.to_floats();
  return {f.begin(), f.end()};
}

// One group of image tokens' contribution in double: K = tok·Wkᵀ, V = tok·Wvᵀ, the embeds
// scaling of the note §3, softmax(q·Kᵀ·scale)·V per head, times the mask per query (if any), times
// the output factor (V only: w).
struct RefGroup {
  int64_t first = 0, count = 0;  // token range of the group
  double w = 0;                  // layer scale · group scale
  std::vector<double> mask;      // per query, or empty
};
void add_reference(const Synthetic& s, int layer, const std::vector<double>& tok, int64_t B,
                   int64_t Lt, const std::vector<double>& q, int64_t Lq, double sdpa_scale,
                   EmbedsScaling mode, const RefGroup& g, std::vector<double>* out) {
  const auto& l = s.layers[static_cast<size_t>(layer)];
  const int64_t C = l.inner_dim(), H = l.heads, D = l.dim_head, Ctx = Synthetic::kCtx, T = g.count;
  const auto& wk = s.wk[static_cast<size_t>(layer)];
  const auto& wv = s.wv[static_cast<size_t>(layer)];
  std::vector<double> K(static_cast<size_t>(B * T * C)), V(K.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < C; ++c) {
        double sk = 0, sv = 0;
        for (int64_t i = 0; i < Ctx; ++i) {
          const double x = tok[static_cast<size_t>((b * Lt + g.first + t) * Ctx + i)];
          sk += x * wk[static_cast<size_t>(c * Ctx + i)];
          sv += x * wv[static_cast<size_t>(c * Ctx + i)];
        }
        K[static_cast<size_t>((b * T + t) * C + c)] = sk;
        V[static_cast<size_t>((b * T + t) * C + c)] = sv;
      }
  double out_factor = 1;
  const double penalty = static_cast<double>(C) / 1280.0;
  switch (mode) {
    case EmbedsScaling::VOnly:
      out_factor = g.w;
      break;
    case EmbedsScaling::KV:
      for (auto& x : K) x *= g.w;
      for (auto& x : V) x *= g.w;
      break;
    case EmbedsScaling::KVPenalty:
      for (auto& x : K) x *= g.w * penalty;
      for (auto& x : V) x *= g.w * penalty;
      break;
    case EmbedsScaling::KMeanVPenalty: {
      const double wp = g.w * penalty;
      for (auto& x : K) x *= wp;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c) {
          double m = 0;
          for (int64_t t = 0; t < T; ++t) m += V[static_cast<size_t>((b * T + t) * C + c)];
          m /= static_cast<double>(T);
          for (int64_t t = 0; t < T; ++t) {
            double& x = V[static_cast<size_t>((b * T + t) * C + c)];
            x = (x - m) + m * wp;
          }
        }
      break;
    }
  }
  std::vector<double> sc(static_cast<size_t>(T));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Lq; ++i) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < T; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) {
            dot += q[static_cast<size_t>((b * Lq + i) * C + h * D + d)] *
                   K[static_cast<size_t>((b * T + j) * C + h * D + d)];
          }
          sc[static_cast<size_t>(j)] = dot * sdpa_scale;
          mx = std::max(mx, sc[static_cast<size_t>(j)]);
        }
        double sum = 0;
        for (auto& x : sc) sum += (x = std::exp(x - mx));
        const double m = g.mask.empty() ? 1.0 : g.mask[static_cast<size_t>(i)];
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < T; ++j) {
            acc += sc[static_cast<size_t>(j)] * V[static_cast<size_t>((b * T + j) * C + h * D + d)];
          }
          (*out)[static_cast<size_t>((b * Lq + i) * C + h * D + d)] += out_factor * m * acc / sum;
        }
      }
}

// Runs ext.extend on `layer` with random q and out [B, Lq, inner]; returns {out before, out after}.
std::pair<std::vector<float>, Tensor> run_extend(const IpAttention& ext, const Synthetic& s,
                                                 int layer, int64_t B, int64_t Lq, Tensor* q,
                                                 float* sdpa_scale, uint64_t seed) {
  const auto& l = s.layers[static_cast<size_t>(layer)];
  *q = test::random_tensor({B, Lq, l.inner_dim()}, seed);
  *sdpa_scale = 1.f / std::sqrt(static_cast<float>(l.dim_head));
  Tensor out = test::random_tensor({B, Lq, l.inner_dim()}, seed + 1);
  const std::vector<float> before = out.to_floats();
  ext.extend({l, *q, *sdpa_scale, out});
  return {before, out};
}

// got == before + Σ groups (in double), within 1e-5 of the contribution's size plus the float
// rounding of the sum.
void expect_extended(const std::vector<float>& before, const Tensor& got,
                     const std::vector<double>& want_delta, const std::string& what) {
  const std::vector<float> g = got.to_floats();
  ASSERT_EQ(g.size(), want_delta.size()) << what;
  double max_delta = 0, max_before = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    max_delta = std::max(max_delta, std::abs(want_delta[i]));
    max_before = std::max(max_before, std::abs(static_cast<double>(before[i])));
  }
  ASSERT_GT(max_delta, 1e-4) << what << ": the reference adds (almost) nothing";
  const double bound = 1e-5 * max_delta + 2e-7 * (max_before + max_delta);
  double worst = 0;
  size_t where = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double err = std::abs(static_cast<double>(g[i]) - (before[i] + want_delta[i]));
    if (!(err <= worst)) {
      worst = err;
      where = i;
    }
  }
  EXPECT_LE(worst, bound) << what << ": at " << where << " got " << g[where] << ", want "
                          << before[where] + want_delta[where] << " (contribution "
                          << want_delta[where] << ", max " << max_delta << ")";
}

constexpr int64_t kB = 2;

// (a)-(d) without masks: every embeds scaling, on both layers (different C), layer scales 0.7 and
// 1.3, 5 tokens under one softmax.
TEST(IpControlsAttention, EmbedsScalingsAgainstReference) {
  const Synthetic s;
  const int64_t Lt = 5, Lq = 7;
  const Tensor tokens = test::random_tensor({kB, Lt, Synthetic::kCtx}, 31);
  const std::vector<float> layer_scales = {0.7f, 1.3f};
  for (EmbedsScaling mode : {EmbedsScaling::VOnly, EmbedsScaling::KV, EmbedsScaling::KVPenalty,
                             EmbedsScaling::KMeanVPenalty}) {
    IpAttentionInput in;
    in.weights = &s.weights;
    in.tokens = tokens;
    in.layer_scales = layer_scales;
    in.scaling = mode;
    IpAttention ext;
    ext.add(in);
    for (int layer = 0; layer < 2; ++layer) {
      Tensor q;
      float sdpa = 0;
      const auto [before, after] = run_extend(ext, s, layer, kB, Lq, &q, &sdpa, 40 + layer);
      std::vector<double> delta(before.size(), 0.0);
      add_reference(s, layer, to_doubles(tokens), kB, Lt, to_doubles(q), Lq, sdpa, mode,
                    {0, Lt, layer_scales[static_cast<size_t>(layer)], {}}, &delta);
      expect_extended(before, after, delta,
                      std::string(embeds_scaling_name(mode)) + " layer " + std::to_string(layer));
    }
  }
}

// The C penalty really is C/1280 with C the layer's inner width: at layer 1 (C = 640) "K+V w/ C
// penalty" at weight w equals "K+V" at weight w/2.
TEST(IpControlsAttention, PenaltyIsInnerWidthOver1280) {
  const Synthetic s;
  const Tensor tokens = test::random_tensor({kB, 4, Synthetic::kCtx}, 7);
  auto run = [&](EmbedsScaling mode, float w) {
    IpAttentionInput in;
    in.weights = &s.weights;
    in.tokens = tokens;
    in.layer_scales = {w, w};
    in.scaling = mode;
    IpAttention ext;
    ext.add(in);
    const auto& l = s.layers[1];
    const Tensor q = test::random_tensor({kB, 6, l.inner_dim()}, 9);
    Tensor out = Tensor::zeros({kB, 6, l.inner_dim()});
    ext.extend({l, q, 1.f / std::sqrt(static_cast<float>(l.dim_head)), out});
    return out;
  };
  EXPECT_TRUE(
      test::AllCloseRel(run(EmbedsScaling::KVPenalty, 1.2f), run(EmbedsScaling::KV, 0.6f), 1e-6));
}

// 4x4 0/1 masks, not symmetric (a transposed or flipped mask would differ).
std::vector<float> mask_values(int which) {
  std::vector<float> m(16);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) {
      m[static_cast<size_t>(y * 4 + x)] =
          which == 0 ? (x < 2 && y != 3 ? 1.f : 0.f) : ((x + 2 * y) % 3 == 0 ? 1.f : 0.f);
    }
  return m;
}

// (e) two images with masks and group scales [0.8, 0.3] (layer scales 0.7 / 1.3): each image its
// own softmax, times its mask per query, times its weight. At Lq = 16 the 4x4 masks' downsampling
// is the identity (checked), so the reference uses the raw mask; at Lq = 6 it uses
// downsample_ip_mask (golden-tested on its own). V only and K+mean(V) w/ C penalty.
TEST(IpControlsAttention, MasksGiveEachImageItsOwnSoftmax) {
  const Synthetic s;
  const int64_t T = 3;
  const Tensor tokens = test::random_tensor({kB, 2 * T, Synthetic::kCtx}, 51);
  const std::vector<float> layer_scales = {0.7f, 1.3f}, group_scales = {0.8f, 0.3f};
  std::vector<Tensor> masks = {Tensor::from_vector({4, 4}, mask_values(0)),
                               Tensor::from_vector({4, 4}, mask_values(1))};
  for (int g = 0; g < 2; ++g) {
    EXPECT_EQ(downsample_ip_mask(masks[static_cast<size_t>(g)], 16).to_floats(), mask_values(g));
  }
  for (EmbedsScaling mode : {EmbedsScaling::VOnly, EmbedsScaling::KMeanVPenalty}) {
    IpAttentionInput in;
    in.weights = &s.weights;
    in.tokens = tokens;
    in.tokens_per_image = T;
    in.layer_scales = layer_scales;
    in.group_scales = group_scales;
    in.masks = masks;
    in.scaling = mode;
    IpAttention ext;
    ext.add(in);
    for (int64_t Lq : {16, 6}) {
      for (int layer = 0; layer < 2; ++layer) {
        Tensor q;
        float sdpa = 0;
        const auto [before, after] =
            run_extend(ext, s, layer, kB, Lq, &q, &sdpa, 60 + static_cast<uint64_t>(Lq) + layer);
        std::vector<double> delta(before.size(), 0.0);
        for (int g = 0; g < 2; ++g) {
          RefGroup rg;
          rg.first = g * T;
          rg.count = T;
          rg.w = static_cast<double>(layer_scales[static_cast<size_t>(layer)]) *
                 group_scales[static_cast<size_t>(g)];
          const std::vector<float> m =
              Lq == 16 ? mask_values(g)
                       : downsample_ip_mask(masks[static_cast<size_t>(g)], Lq).to_floats();
          rg.mask.assign(m.begin(), m.end());
          add_reference(s, layer, to_doubles(tokens), kB, 2 * T, to_doubles(q), Lq, sdpa, mode, rg,
                        &delta);
        }
        expect_extended(before, after, delta,
                        std::string(embeds_scaling_name(mode)) + " masked, Lq " +
                            std::to_string(Lq) + " layer " + std::to_string(layer));
      }
    }
  }
}

// (f) A layer scale of 0 leaves out bit-identical (every scaling, with and without masks), while
// the other layer still changes.
TEST(IpControlsAttention, LayerScaleZeroLeavesOutUnchanged) {
  const Synthetic s;
  const Tensor tokens = test::random_tensor({kB, 4, Synthetic::kCtx}, 71);
  for (bool masked : {false, true}) {
    for (EmbedsScaling mode : {EmbedsScaling::VOnly, EmbedsScaling::KV, EmbedsScaling::KVPenalty,
                               EmbedsScaling::KMeanVPenalty}) {
      SCOPED_TRACE(std::string(embeds_scaling_name(mode)) + (masked ? " masked" : ""));
      IpAttentionInput in;
      in.weights = &s.weights;
      in.tokens = tokens;
      in.layer_scales = {0.f, 0.9f};
      in.scaling = mode;
      if (masked) {
        in.tokens_per_image = 2;
        in.group_scales = {0.8f, 0.3f};
        in.masks = {Tensor::from_vector({4, 4}, mask_values(0)),
                    Tensor::from_vector({4, 4}, mask_values(1))};
      }
      IpAttention ext;
      ext.add(in);
      Tensor q;
      float sdpa = 0;
      const auto [b0, a0] = run_extend(ext, s, 0, kB, 16, &q, &sdpa, 80);
      EXPECT_EQ(a0.to_floats(), b0);
      const auto [b1, a1] = run_extend(ext, s, 1, kB, 16, &q, &sdpa, 81);
      EXPECT_NE(a1.to_floats(), b1);
    }
  }
}

// (g) The step window: begin_step(i, N) keeps the adapter on iff start <= i/N < end, with start /
// end arriving as floats (0.2f is a little above 0.2, 0.6f a little above 0.6): N = 5, [0.2f,
// 0.6f) → steps 1, 2; N = 10, [0.3f, 0.7f) → 3..6; the whole window [0, 1) → every step. When on,
// out matches the reference; when off, it is bit-identical.
TEST(IpControlsAttention, StepWindow) {
  const Synthetic s;
  const int64_t Lt = 4, Lq = 5;
  const Tensor tokens = test::random_tensor({kB, Lt, Synthetic::kCtx}, 91);
  struct Window {
    float start, end;
    size_t total;
    std::set<size_t> on;
  };
  const std::vector<Window> windows = {
      {0.2f, 0.6f, 5, {1, 2}}, {0.3f, 0.7f, 10, {3, 4, 5, 6}}, {0.f, 1.f, 5, {0, 1, 2, 3, 4}}};
  for (const Window& w : windows) {
    IpAttentionInput in;
    in.weights = &s.weights;
    in.tokens = tokens;
    in.layer_scales = {0.7f, 0.7f};
    in.start = w.start;  // float → double, as the pipeline passes ImagePrompt::start
    in.end = w.end;
    IpAttention ext;
    ext.add(in);
    for (size_t i = 0; i < w.total; ++i) {
      SCOPED_TRACE("window [" + std::to_string(w.start) + ", " + std::to_string(w.end) +
                   "), step " + std::to_string(i) + " of " + std::to_string(w.total));
      ext.begin_step(i, w.total);
      Tensor q;
      float sdpa = 0;
      const auto [before, after] = run_extend(ext, s, 0, kB, Lq, &q, &sdpa, 100 + i);
      if (w.on.count(i)) {
        std::vector<double> delta(before.size(), 0.0);
        add_reference(s, 0, to_doubles(tokens), kB, Lt, to_doubles(q), Lq, sdpa,
                      EmbedsScaling::VOnly, {0, Lt, 0.7, {}}, &delta);
        expect_extended(before, after, delta, "active step");
      } else {
        EXPECT_EQ(after.to_floats(), before) << "the adapter acted outside its window";
      }
    }
  }
}

// =================================================================================================
// 5. Bad requests through the CLI (tiny models of tests/data)
// =================================================================================================

struct Cli {
  std::string dir;
  explicit Cli(const std::string& tag) : dir(test::temp_dir("ip_controls_unit_" + tag)) {}

  static std::string data(const std::string& rel) {
    return test::golden_path("ip_controls_sd15/" + rel);
  }
  static std::string base() { return test::golden_path("pipeline_sd15/sd15"); }

  // A one-step request with one basic adapter and one reference image.
  static json request() {
    json j;
    j["base"] = base();
    j["prompt"] = "a fox";
    j["steps"] = 1;
    j["seed"] = 0;
    j["ip_adapters"] = {{{"file", data("IP-Adapter/models/ip-adapter_sd15.safetensors")},
                         {"images", {data("images/ref_a.png")}}}};
    return j;
  }

  // Runs `generate --request`; the output PNG path is out_png().
  int run(const std::string& name, const json& j, std::string* out) const {
    const std::string file = dir + "/" + name + ".json";
    std::ofstream(file) << j.dump(1);
    return test::run_cli({"generate", "--request", file, "--out", png(name)}, out);
  }
  std::string png(const std::string& name) const { return dir + "/" + name + ".png"; }

  // The request must be refused (non-zero exit, no image) with a message containing each part.
  void expect_refused(const std::string& name, const json& j,
                      const std::vector<std::string>& parts) const {
    SCOPED_TRACE(name);
    std::string out;
    EXPECT_NE(run(name, j, &out), 0) << out;
    EXPECT_FALSE(fs::exists(png(name))) << "an image was written for a refused request";
    for (const auto& p : parts) EXPECT_TRUE(contains(out, p)) << "no '" << p << "' in:\n" << out;
  }
};

// The tiny UNet's layout, read at run time.
struct TinyLayout {
  unet::UNetConfig config =
      unet::load_unet_config(test::golden_path("pipeline_sd15/sd15/unet/config.json"));
  std::vector<unet::CrossAttentionLayer> layers = unet::cross_attention_layers(config);

  // A down block index without attention (or one past the last block).
  int down_block_without_attention() const {
    for (size_t b = 0; b < config.down_blocks.size(); ++b) {
      if (!config.down_blocks[b].has_attention) return static_cast<int>(b);
    }
    return static_cast<int>(config.down_blocks.size());
  }
  // A down block with attention and its number of attentions (Transformer2DModels).
  std::pair<int, int> down_block_with_attention() const {
    for (size_t b = 0; b < config.down_blocks.size(); ++b) {
      if (!config.down_blocks[b].has_attention) continue;
      std::set<std::string> attentions;
      const std::string prefix = "down_blocks." + std::to_string(b) + ".attentions.";
      for (const auto& l : layers) {
        if (starts_with(l.path, prefix))
          attentions.insert(l.path.substr(0, l.path.find(".transformer_blocks")));
      }
      return {static_cast<int>(b), static_cast<int>(attentions.size())};
    }
    ADD_FAILURE() << "the tiny UNet has no down block with attention";
    return {0, 0};
  }
};

// One mask for two images → "ip_adapters[0].masks".
TEST(IpControlsCli, MaskCountDiffersFromImageCount) {
  const Cli cli("masks");
  json j = Cli::request();
  j["ip_adapters"][0]["images"] = {Cli::data("images/ref_a.png"), Cli::data("images/ref_b.png")};
  j["ip_adapters"][0]["masks"] = {Cli::data("images/mask_a.png")};
  cli.expect_refused("mask_count", j, {"ip_adapters[0].masks"});
}

// A down block the tiny UNet has without attention (or past its last) → the field with its index.
TEST(IpControlsCli, BlockTheUNetLacks) {
  const Cli cli("block");
  const TinyLayout tiny;
  const int b = tiny.down_block_without_attention();
  json j = Cli::request();
  j["ip_adapters"][0]["scale"] = {{"down", {{"block_" + std::to_string(b), 1.0}}}};
  cli.expect_refused("block_missing", j, {"ip_adapters[0].scale.down.block_" + std::to_string(b)});
  // One past the last up block, too.
  j["ip_adapters"][0]["scale"] = {
      {"up", {{"block_" + std::to_string(tiny.config.up_blocks.size()), 1.0}}}};
  cli.expect_refused(
      "block_past_end", j,
      {"ip_adapters[0].scale.up.block_" + std::to_string(tiny.config.up_blocks.size())});
}

// A list with one value more than the block's attentions → the field.
TEST(IpControlsCli, ListOfTheWrongLength) {
  const Cli cli("list");
  const TinyLayout tiny;
  const auto [b, n] = tiny.down_block_with_attention();
  ASSERT_GT(n, 0);
  json j = Cli::request();
  j["ip_adapters"][0]["scale"] = {
      {"down",
       {{"block_" + std::to_string(b), std::vector<double>(static_cast<size_t>(n) + 1, 0.5)}}}};
  cli.expect_refused("list_length", j, {"ip_adapters[0].scale.down.block_" + std::to_string(b)});
}

// start >= end (equal, and reversed) → "ip_adapters[0].start".
TEST(IpControlsCli, StartNotBeforeEnd) {
  const Cli cli("window");
  json j = Cli::request();
  j["ip_adapters"][0]["start"] = 0.5;
  j["ip_adapters"][0]["end"] = 0.5;
  cli.expect_refused("start_eq_end", j, {"ip_adapters[0].start"});
  j["ip_adapters"][0]["start"] = 0.7;
  j["ip_adapters"][0]["end"] = 0.3;
  cli.expect_refused("start_gt_end", j, {"ip_adapters[0].start"});
}

// image_embeds whose clip_feature is one wider than the adapter's encoder output (width from the
// case JSON) → "ip_adapters[0].image_embeds" and "clip_feature".
TEST(IpControlsCli, ImageEmbedsForAnotherEncoder) {
  const Cli cli("embeds");
  const json c = test::load_case("ip_controls_sd15");
  const int64_t width = c["ip_adapter_configs"]["ip-adapter_sd15"]["clip_embeddings_dim"];
  const std::string file = cli.dir + "/wrong_width.safetensors";
  write_safetensors(file, {{"clip_feature", test::random_tensor({1, width + 1}, 3)}});
  json j = Cli::request();
  j["ip_adapters"][0].erase("images");
  j["ip_adapters"][0]["image_embeds"] = file;
  cli.expect_refused("embeds_width", j, {"ip_adapters[0].image_embeds", "clip_feature"});
}

// "style" needs transformers the tiny SD1.5 UNet lacks (ComfyUI's SD1.5 table) → the preset
// field and its value.
TEST(IpControlsCli, PresetTheLayoutCannotTake) {
  const Cli cli("preset_layout");
  json j = Cli::request();
  j["ip_adapters"][0]["preset"] = "style";
  cli.expect_refused("preset_style", j, {"ip_adapters[0].preset", "style"});
}

// An unknown preset name → "ip_adapters[0].preset" and the name.
TEST(IpControlsCli, UnknownPresetName) {
  const Cli cli("preset_name");
  json j = Cli::request();
  j["ip_adapters"][0]["preset"] = "ease sideways";
  cli.expect_refused("preset_unknown", j, {"ip_adapters[0].preset", "ease sideways"});
}

// Unknown keys, in an adapter and at the top → the key named.
TEST(IpControlsCli, UnknownKey) {
  const Cli cli("key");
  json j = Cli::request();
  j["ip_adapters"][0]["weight_tipe"] = "linear";
  cli.expect_refused("unknown_adapter_key", j, {"ip_adapters[0]", "weight_tipe"});
  json k = Cli::request();
  k["promt"] = "typo";
  cli.expect_refused("unknown_top_key", k, {"promt"});
}

// An all-black mask only warns ("all black", naming the mask) and the image is still made.
TEST(IpControlsCli, AllBlackMaskWarnsAndGenerates) {
  const Cli cli("black");
  const std::string black = cli.dir + "/black.png";
  write_png(black, image::Image(64, 64));  // zero-initialised: black
  json j = Cli::request();
  j["ip_adapters"][0]["masks"] = {black};
  std::string out;
  ASSERT_EQ(cli.run("black_mask", j, &out), 0) << out;
  EXPECT_TRUE(contains(out, "all black")) << out;
  EXPECT_TRUE(contains(out, "ip_adapters[0].masks[0]")) << out;
  EXPECT_TRUE(fs::exists(cli.png("black_mask")));
}

}  // namespace
}  // namespace ipa
