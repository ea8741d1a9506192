// The LDM → diffusers UNet key converter (weights/ldm_unet_names.h) on the full-size SD1.5 and
// SDXL layouts (the repository's configs/), against the numbering of the original checkpoints:
// diffusers' convert_diffusers_to_original_stable_diffusion.py rule for SD1.5, and the keys
// of sd_xl_base_1.0.safetensors for SDXL.
#include <gtest/gtest.h>

#include "models/unet/config.h"
#include "models/unet/ldm_layout.h"
#include "test_support.h"
#include "weights/ldm_unet_names.h"

namespace ipa {
namespace {

LdmUNetNames names_of(const std::string& family) {
  return LdmUNetNames(unet::ldm_unet_layout(unet::load_unet_config(
      std::string(IPA_SOURCE_DIR) + "/configs/" + family + "/unet/config.json")));
}

TEST(LdmUNetNames, Sd15MatchesTheConversionScriptsTable) {
  const LdmUNetNames n = names_of("sd15");
  // The script's hard-coded SD1.5 table: 4 levels, 2 resnets per down block, 3 per up block.
  std::vector<std::pair<std::string, std::string>> table;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 2; ++j) {
      const std::string in = "input_blocks." + std::to_string(3 * i + j + 1) + ".";
      table.push_back(
          {in + "0.in_layers.0.weight",
           "down_blocks." + std::to_string(i) + ".resnets." + std::to_string(j) + ".norm1.weight"});
      if (i < 3) {
        table.push_back({in + "1.proj_in.weight", "down_blocks." + std::to_string(i) +
                                                      ".attentions." + std::to_string(j) +
                                                      ".proj_in.weight"});
      }
    }
    for (int j = 0; j < 3; ++j) {
      const std::string out = "output_blocks." + std::to_string(3 * i + j) + ".";
      table.push_back({out + "0.skip_connection.bias", "up_blocks." + std::to_string(i) +
                                                           ".resnets." + std::to_string(j) +
                                                           ".conv_shortcut.bias"});
      if (i > 0) {
        table.push_back({out + "1.transformer_blocks.0.attn2.to_k.weight",
                         "up_blocks." + std::to_string(i) + ".attentions." + std::to_string(j) +
                             ".transformer_blocks.0.attn2.to_k.weight"});
      }
    }
    if (i < 3) {
      table.push_back({"input_blocks." + std::to_string(3 * (i + 1)) + ".0.op.weight",
                       "down_blocks." + std::to_string(i) + ".downsamplers.0.conv.weight"});
      table.push_back(
          {"output_blocks." + std::to_string(3 * i + 2) + "." + (i == 0 ? "1" : "2") + ".conv.bias",
           "up_blocks." + std::to_string(i) + ".upsamplers.0.conv.bias"});
    }
  }
  table.push_back(
      {"middle_block.0.emb_layers.1.weight", "mid_block.resnets.0.time_emb_proj.weight"});
  table.push_back({"middle_block.1.norm.bias", "mid_block.attentions.0.norm.bias"});
  table.push_back({"middle_block.2.out_layers.3.weight", "mid_block.resnets.1.conv2.weight"});
  table.push_back({"input_blocks.0.0.weight", "conv_in.weight"});
  table.push_back({"time_embed.2.bias", "time_embedding.linear_2.bias"});
  table.push_back({"out.0.weight", "conv_norm_out.weight"});
  table.push_back({"out.2.bias", "conv_out.bias"});
  for (const auto& [ldm, diffusers] : table) {
    EXPECT_EQ(n.to_diffusers(ldm), diffusers) << ldm;
    EXPECT_EQ(n.to_ldm(diffusers), ldm) << diffusers;
  }
  // Names of layers SD1.5 does not have.
  for (const std::string key :
       {"input_blocks.12.0.in_layers.0.weight", "input_blocks.10.1.norm.weight",
        "output_blocks.1.1.norm.weight", "label_emb.0.0.weight", "input_blocks.1.0.unknown.weight",
        "middle_block.3.x"}) {
    EXPECT_FALSE(n.to_diffusers(key).has_value()) << key;
  }
}

TEST(LdmUNetNames, SdxlMatchesTheBaseCheckpointsKeys) {
  const LdmUNetNames n = names_of("sdxl");
  const std::pair<const char*, const char*> table[] = {
      {"input_blocks.1.0.in_layers.2.weight", "down_blocks.0.resnets.0.conv1.weight"},
      {"input_blocks.3.0.op.weight", "down_blocks.0.downsamplers.0.conv.weight"},
      {"input_blocks.4.1.transformer_blocks.1.ff.net.2.bias",
       "down_blocks.1.attentions.0.transformer_blocks.1.ff.net.2.bias"},
      {"input_blocks.6.0.op.bias", "down_blocks.1.downsamplers.0.conv.bias"},
      {"input_blocks.8.1.proj_out.weight", "down_blocks.2.attentions.1.proj_out.weight"},
      {"middle_block.1.transformer_blocks.9.norm3.weight",
       "mid_block.attentions.0.transformer_blocks.9.norm3.weight"},
      {"output_blocks.2.2.conv.weight", "up_blocks.0.upsamplers.0.conv.weight"},
      {"output_blocks.5.2.conv.bias", "up_blocks.1.upsamplers.0.conv.bias"},
      {"output_blocks.5.1.proj_in.bias", "up_blocks.1.attentions.2.proj_in.bias"},
      {"output_blocks.8.0.out_layers.0.bias", "up_blocks.2.resnets.2.norm2.bias"},
      {"label_emb.0.0.weight", "add_embedding.linear_1.weight"},
      {"label_emb.0.2.bias", "add_embedding.linear_2.bias"},
  };
  for (const auto& [ldm, diffusers] : table) {
    EXPECT_EQ(n.to_diffusers(ldm), diffusers) << ldm;
    EXPECT_EQ(n.to_ldm(diffusers), ldm) << diffusers;
  }
  // SDXL's first and last levels have no transformers, and its last up block no upsampler.
  for (const std::string key : {"input_blocks.1.1.norm.weight", "output_blocks.8.1.norm.weight",
                                "output_blocks.8.1.conv.weight", "input_blocks.9.0.op.weight"}) {
    EXPECT_FALSE(n.to_diffusers(key).has_value()) << key;
  }
}

TEST(LdmUNetNames, EncoderOnlyLayoutAndRuleErrors) {
  auto config =
      unet::load_unet_config(std::string(IPA_SOURCE_DIR) + "/configs/sd15/unet/config.json");
  LdmUNetNames n(unet::ldm_unet_layout(config, /*up_path=*/false));
  EXPECT_FALSE(n.to_diffusers("output_blocks.0.0.in_layers.0.weight").has_value());
  EXPECT_FALSE(n.to_diffusers("out.2.weight").has_value());
  EXPECT_TRUE(n.to_diffusers("middle_block.2.in_layers.0.weight").has_value());
  n.add("zero_convs.0.0.", "controlnet_down_blocks.0.");
  EXPECT_EQ(n.to_diffusers("zero_convs.0.0.weight"), "controlnet_down_blocks.0.weight");
  EXPECT_TRUE(test::contains(test::error_of([&] { n.add("zero_convs.0.0.", "x."); }), "twice"));
  LdmUNetLayout bad;
  bad.layers_per_block = {2, 2};
  bad.down_attention = {true};
  EXPECT_TRUE(test::contains(test::error_of([&] { LdmUNetNames{bad}; }), "one entry per block"));
}

}  // namespace
}  // namespace ipa
