// UNet config parsing (diffusers 0.30.3 conventions and defaults) and the IP-Adapter checkpoint
// index ↔ attn2 map, against the released SD1.5 / SDXL configs (tests/data/configs) with the
// numbering documented in IPADAPTER-REFERENCE §4, and against every golden case's own map.
#include <gtest/gtest.h>

#include "adapter/ip_layer_map.h"
#include "formats/json_file.h"
#include "models/unet/config.h"
#include "models/unet/cross_attention.h"
#include "test_support.h"

namespace ipa {
namespace {

using nlohmann::json;
using unet::UNetConfig;

UNetConfig real_config(const std::string& name) {
  return unet::load_unet_config(test::golden_path("configs/" + name + "/config.json"));
}

std::string attn2(const std::string& block, int attention, int transformer_block) {
  return block + ".attentions." + std::to_string(attention) + ".transformer_blocks." +
         std::to_string(transformer_block) + ".attn2";
}

// One row of the reference table: a run of consecutive checkpoint indices.
struct Run {
  int first_index, last_index;
  std::string block;
  int attentions, depth;
};

std::vector<IpLayerMapEntry> expand(const std::vector<Run>& runs) {
  std::vector<IpLayerMapEntry> out;
  for (const auto& r : runs) {
    int k = r.first_index;
    for (int a = 0; a < r.attentions; ++a)
      for (int t = 0; t < r.depth; ++t, k += 2) out.push_back({k, attn2(r.block, a, t)});
    EXPECT_EQ(k - 2, r.last_index) << r.block;  // the table's stated range
  }
  return out;
}

void expect_same_map(const std::vector<IpLayerMapEntry>& actual,
                     const std::vector<IpLayerMapEntry>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].checkpoint_index, expected[i].checkpoint_index) << i;
    EXPECT_EQ(actual[i].attn2_path, expected[i].attn2_path) << i;
  }
}

TEST(UNetConfig, SD15Blocks) {
  const UNetConfig c = real_config("sd15_unet");
  EXPECT_EQ(c.block_out_channels, (std::vector<int64_t>{320, 640, 1280, 1280}));
  EXPECT_EQ(c.cross_attention_dim, 768);
  EXPECT_EQ(c.time_proj_dim, 320);
  EXPECT_EQ(c.time_embed_dim, 1280);
  EXPECT_FALSE(c.text_time);
  EXPECT_FALSE(c.use_linear_projection);
  EXPECT_EQ(c.norm_num_groups, 32);
  ASSERT_EQ(c.down_blocks.size(), 4u);
  // attention_head_dim 8 is the head count: 320/8 = 40-wide heads.
  for (const auto& b : c.down_blocks) EXPECT_EQ(b.heads, 8);
  EXPECT_TRUE(c.down_blocks[0].has_attention);
  EXPECT_FALSE(c.down_blocks[3].has_attention);
  EXPECT_FALSE(c.down_blocks[3].add_sample);
  EXPECT_EQ(c.down_blocks[1].in_channels, 320);
  EXPECT_EQ(c.down_blocks[1].out_channels, 640);
  EXPECT_EQ(c.down_blocks[0].transformer_layers, (std::vector<int>{1, 1}));
  ASSERT_EQ(c.up_blocks.size(), 4u);
  EXPECT_EQ(c.up_blocks[0].num_layers, 3);
  EXPECT_EQ(c.up_blocks[0].prev_output_channel, 1280);
  EXPECT_EQ(c.up_blocks[1].in_channels, 640);
  EXPECT_EQ(c.up_blocks[3].in_channels, 320);
  EXPECT_EQ(c.up_blocks[3].prev_output_channel, 640);
  EXPECT_FALSE(c.up_blocks[3].add_sample);
  EXPECT_EQ(c.mid.type, "UNetMidBlock2DCrossAttn");
  EXPECT_EQ(c.mid.channels, 1280);
}

TEST(UNetConfig, SDXLListsAndTextTime) {
  const UNetConfig c = real_config("sdxl_unet");
  EXPECT_TRUE(c.text_time);
  EXPECT_EQ(c.addition_time_embed_dim, 256);
  EXPECT_EQ(c.projection_class_embeddings_input_dim, 2816);
  EXPECT_TRUE(c.use_linear_projection);
  EXPECT_EQ(c.cross_attention_dim, 2048);
  ASSERT_EQ(c.down_blocks.size(), 3u);
  EXPECT_EQ(c.down_blocks[1].heads, 10);  // 640 / 10 = 64-wide heads
  EXPECT_EQ(c.down_blocks[2].heads, 20);
  EXPECT_EQ(c.down_blocks[2].transformer_layers, (std::vector<int>{10, 10}));
  EXPECT_EQ(c.up_blocks[0].transformer_layers, (std::vector<int>{10, 10, 10}));
  EXPECT_EQ(c.up_blocks[0].heads, 20);
  EXPECT_EQ(c.up_blocks[1].transformer_layers, (std::vector<int>{2, 2, 2}));
  EXPECT_EQ(c.mid.transformer_layers, (std::vector<int>{10}));
  EXPECT_EQ(c.mid.heads, 20);
}

TEST(IpLayerMap, SD15MatchesReferenceTable) {
  const auto map = ip_layer_map(unet::cross_attention_layers(real_config("sd15_unet")));
  expect_same_map(map, expand({{1, 3, "down_blocks.0", 2, 1},
                               {5, 7, "down_blocks.1", 2, 1},
                               {9, 11, "down_blocks.2", 2, 1},
                               {13, 17, "up_blocks.1", 3, 1},
                               {19, 23, "up_blocks.2", 3, 1},
                               {25, 29, "up_blocks.3", 3, 1},
                               {31, 31, "mid_block", 1, 1}}));
  EXPECT_EQ(map.size(), 16u);
  EXPECT_EQ(num_attention_processors(unet::cross_attention_layers(real_config("sd15_unet"))), 32);
}

TEST(IpLayerMap, SDXLMatchesReferenceTable) {
  const auto map = ip_layer_map(unet::cross_attention_layers(real_config("sdxl_unet")));
  expect_same_map(map, expand({{1, 7, "down_blocks.1", 2, 2},
                               {9, 47, "down_blocks.2", 2, 10},
                               {49, 107, "up_blocks.0", 3, 10},
                               {109, 119, "up_blocks.1", 3, 2},
                               {121, 139, "mid_block", 1, 10}}));
  EXPECT_EQ(map.size(), 70u);
  EXPECT_EQ(num_attention_processors(unet::cross_attention_layers(real_config("sdxl_unet"))), 140);
}

// Each golden case spells out the map the reference used for its tiny UNet.
void check_case_map(const json& variants, const UNetConfig& config) {
  const auto map = ip_layer_map(unet::cross_attention_layers(config));
  int checked = 0;
  for (const auto& [name, v] : variants.items()) {
    SCOPED_TRACE(name);
    const auto& expected = v.at("ip_adapter_key_index_to_processor");
    ASSERT_EQ(map.size(), expected.size());
    for (const auto& e : map) {
      const std::string k = std::to_string(e.checkpoint_index);
      ASSERT_TRUE(expected.contains(k)) << k;
      EXPECT_EQ(expected.at(k).get<std::string>(), e.attn2_path + ".processor");
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(IpLayerMap, MatchesGoldenCaseMaps) {
  const json sd15 = test::load_case("unet_sd15_ip");
  check_case_map(sd15.at("variants"), unet::parse_unet_config(sd15.at("unet_config"), "sd15"));
  const json sdxl = test::load_case("sdxl");
  check_case_map(sdxl.at("variants"), unet::parse_unet_config(sdxl.at("unet_config"), "sdxl"));
  // The config files next to the weights give the same result as the copy in the case JSON.
  const UNetConfig from_file =
      unet::load_unet_config(test::golden_path("unet_sd15_ip/unet/config.json"));
  check_case_map(sd15.at("variants"), from_file);
}

TEST(IpLayerMap, WeightNames) {
  EXPECT_EQ(ip_key_weight_name(31), "31.to_k_ip.weight");
  EXPECT_EQ(ip_value_weight_name(1), "1.to_v_ip.weight");
  auto k = parse_ip_weight_name("139.to_v_ip.weight");
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->checkpoint_index, 139);
  EXPECT_FALSE(k->is_key);
  EXPECT_FALSE(parse_ip_weight_name("x.to_k_ip.weight"));
  EXPECT_FALSE(parse_ip_weight_name("1.to_k_ip.bias"));
  EXPECT_FALSE(parse_ip_weight_name("1.to_q.weight"));
  EXPECT_FALSE(parse_ip_weight_name(".to_k_ip.weight"));
  EXPECT_FALSE(parse_ip_weight_name("-1.to_k_ip.weight"));
}

TEST(IpLayerMap, UNetWithoutCrossAttentionHasNoLayers) {
  const nlohmann::json j = {{"block_out_channels", {32, 64}},
                            {"down_block_types", {"DownBlock2D", "DownBlock2D"}},
                            {"up_block_types", {"UpBlock2D", "UpBlock2D"}},
                            {"mid_block_type", "UNetMidBlock2D"},
                            {"norm_num_groups", 8}};
  EXPECT_TRUE(
      ip_layer_map(unet::cross_attention_layers(unet::parse_unet_config(j, "cfg.json"))).empty());
}

// ---- config defaults and refusals ----

json tiny() {
  return json{{"block_out_channels", {32, 64}},
              {"down_block_types", {"CrossAttnDownBlock2D", "DownBlock2D"}},
              {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D"}},
              {"cross_attention_dim", 32},
              {"layers_per_block", 1},
              {"norm_num_groups", 8}};
}

std::string parse_error(const json& j) {
  try {
    unet::parse_unet_config(j, "cfg.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(UNetConfig, DefaultsFollowDiffusers) {
  const UNetConfig c = unet::parse_unet_config(tiny(), "cfg.json");
  EXPECT_EQ(c.in_channels, 4);
  EXPECT_TRUE(c.flip_sin_to_cos);
  EXPECT_EQ(c.freq_shift, 0.f);
  EXPECT_EQ(c.down_blocks[0].heads, 8);  // attention_head_dim default
  EXPECT_EQ(c.mid.type, "UNetMidBlock2DCrossAttn");
  EXPECT_EQ(c.norm_eps, 1e-5f);
  EXPECT_EQ(c.downsample_padding, 1);
  EXPECT_EQ(c.conv_in_kernel, 3);
  EXPECT_EQ(c.time_embed_dim, 128);
  json j = tiny();
  j["time_embedding_dim"] = 96;
  j["mid_block_type"] = nullptr;
  const UNetConfig d = unet::parse_unet_config(j, "cfg.json");
  EXPECT_EQ(d.time_embed_dim, 96);
  EXPECT_TRUE(d.mid.type.empty());
  EXPECT_EQ(ip_layer_map(unet::cross_attention_layers(d)).size(), 3u);  // down0 ×1, up1 ×2, no mid
}

TEST(UNetConfig, TransformerLayersPerBlockForms) {
  json j = tiny();
  j["transformer_layers_per_block"] = {3, 1};
  UNetConfig c = unet::parse_unet_config(j, "cfg.json");
  EXPECT_EQ(c.down_blocks[0].transformer_layers, (std::vector<int>{3}));
  EXPECT_EQ(c.up_blocks[1].transformer_layers, (std::vector<int>{3, 3}));
  EXPECT_EQ(c.mid.transformer_layers, (std::vector<int>{1}));

  j["transformer_layers_per_block"] = {json{2}, json{1}};
  EXPECT_NE(parse_error(j).find("reverse_transformer_layers_per_block"), std::string::npos);
  j["reverse_transformer_layers_per_block"] = {json{1, 1}, json{4, 5}};
  c = unet::parse_unet_config(j, "cfg.json");
  EXPECT_EQ(c.down_blocks[0].transformer_layers, (std::vector<int>{2}));
  EXPECT_EQ(c.up_blocks[1].transformer_layers, (std::vector<int>{4, 5}));
  const auto map = ip_layer_map(unet::cross_attention_layers(c));
  ASSERT_EQ(map.size(), 2u + 9u + 1u);
  EXPECT_EQ(map[2].attn2_path, attn2("up_blocks.1", 0, 0));
  EXPECT_EQ(map.back().attn2_path, attn2("mid_block", 0, 0));
  EXPECT_EQ(map.back().checkpoint_index, 23);
}

TEST(UNetConfig, UnsupportedOptionsAreClearErrors) {
  auto with = [](const std::string& key, const json& v) {
    json j = tiny();
    j[key] = v;
    return parse_error(j);
  };
  EXPECT_NE(with("dual_cross_attention", true).find("dual_cross_attention"), std::string::npos);
  EXPECT_NE(with("class_embed_type", "timestep").find("class_embed_type"), std::string::npos);
  EXPECT_NE(with("resnet_time_scale_shift", "scale_shift").find("scale_shift"), std::string::npos);
  EXPECT_NE(with("num_attention_heads", 8).find("num_attention_heads"), std::string::npos);
  EXPECT_NE(with("addition_embed_type", "text").find("addition_embed_type"), std::string::npos);
  EXPECT_NE(with("only_cross_attention", true).find("only_cross_attention"), std::string::npos);
  EXPECT_NE(with("mid_block_type", "UNetMidBlock2DSimpleCrossAttn").find("mid_block_type"),
            std::string::npos);
  EXPECT_NE(
      with("down_block_types", json{"AttnDownBlock2D", "DownBlock2D"}).find("AttnDownBlock2D"),
      std::string::npos);
  EXPECT_NE(with("block_out_channels", json{32, 64, 128}).find("block_out_channels"),
            std::string::npos);
  EXPECT_NE(with("attention_head_dim", json{8, 8, 8}).find("attention_head_dim"),
            std::string::npos);
  EXPECT_NE(with("layers_per_block", "two").find("layers_per_block"), std::string::npos);
  EXPECT_NE(with("norm_num_groups", nullptr).find("norm_num_groups"), std::string::npos);
  EXPECT_NE(with("conv_in_kernel", 2).find("conv_in_kernel"), std::string::npos);
  EXPECT_NE(with("attention_head_dim", 64).find("heads"), std::string::npos);
  json sdxl = tiny();
  sdxl["addition_embed_type"] = "text_time";
  EXPECT_NE(parse_error(sdxl).find("addition_time_embed_dim"), std::string::npos);
  // The file name is in the message.
  EXPECT_NE(with("dual_cross_attention", true).find("cfg.json"), std::string::npos);
}

}  // namespace
}  // namespace ipa
