// Config parsing for the CLIP vision encoder and the VAE: values, upstream defaults, and clear
// errors for configs that cannot describe a model we run.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "models/clip_vision.h"
#include "models/vae/vae_config.h"
#include "test_support.h"

namespace ipa {
namespace {

using nlohmann::json;
using test::contains;
using test::error_of;

json vit_h() {
  return json::parse(R"({"architectures": ["CLIPVisionModelWithProjection"],
    "model_type": "clip_vision_model", "hidden_act": "gelu", "hidden_size": 1280,
    "image_size": 224, "intermediate_size": 5120, "layer_norm_eps": 1e-05,
    "num_attention_heads": 16, "num_channels": 3, "num_hidden_layers": 32, "patch_size": 14,
    "projection_dim": 1024})");
}

TEST(ClipVisionConfig, ReadsViTH) {
  const auto c = ClipVisionConfig::from_json(vit_h(), "enc/config.json");
  EXPECT_EQ(c.hidden_size, 1280);
  EXPECT_EQ(c.intermediate_size, 5120);
  EXPECT_EQ(c.projection_dim, 1024);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 16);
  EXPECT_EQ(c.head_dim(), 80);
  EXPECT_EQ(c.grid(), 16);
  EXPECT_EQ(c.num_tokens(), 257);
  EXPECT_EQ(c.activation(), ops::Activation::GELU);
  EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-5f);
}

TEST(ClipVisionConfig, MissingKeysTakeTransformersDefaults) {
  const auto c = ClipVisionConfig::from_json(json::object(), "c.json");
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.patch_size, 32);
  EXPECT_EQ(c.num_tokens(), 50);
  EXPECT_EQ(c.hidden_act, "quick_gelu");
  EXPECT_EQ(c.activation(), ops::Activation::QuickGELU);
}

TEST(ClipVisionConfig, ReadsVisionConfigOfAFullClipConfig) {
  json full = {{"model_type", "clip"}, {"projection_dim", 999}, {"vision_config", vit_h()}};
  const auto c = ClipVisionConfig::from_json(full, "c.json");
  EXPECT_EQ(c.hidden_size, 1280);
  EXPECT_EQ(c.projection_dim, 1024);
}

TEST(ClipVisionConfig, Activations) {
  for (auto [name, act] : std::vector<std::pair<std::string, ops::Activation>>{
           {"gelu", ops::Activation::GELU},
           {"quick_gelu", ops::Activation::QuickGELU},
           {"gelu_new", ops::Activation::GELUTanh},
           {"gelu_pytorch_tanh", ops::Activation::GELUTanh}}) {
    json j = vit_h();
    j["hidden_act"] = name;
    EXPECT_EQ(ClipVisionConfig::from_json(j, "c.json").activation(), act) << name;
  }
  json j = vit_h();
  j["hidden_act"] = "relu6";
  const std::string msg = error_of([&] { ClipVisionConfig::from_json(j, "enc/config.json"); });
  EXPECT_TRUE(contains(msg, "enc/config.json")) << msg;
  EXPECT_TRUE(contains(msg, "hidden_act")) << msg;
  EXPECT_TRUE(contains(msg, "relu6")) << msg;
}

TEST(ClipVisionConfig, RejectsInconsistentValues) {
  json j = vit_h();
  j["num_attention_heads"] = 12;  // 1280 / 12 is not whole
  std::string msg = error_of([&] { ClipVisionConfig::from_json(j, "enc/config.json"); });
  EXPECT_TRUE(contains(msg, "num_attention_heads")) << msg;
  EXPECT_TRUE(contains(msg, "enc/config.json")) << msg;

  j = vit_h();
  j["hidden_size"] = "1280";
  msg = error_of([&] { ClipVisionConfig::from_json(j, "enc/config.json"); });
  EXPECT_TRUE(contains(msg, "hidden_size")) << msg;

  j = vit_h();
  j["num_hidden_layers"] = 0;
  msg = error_of([&] { ClipVisionConfig::from_json(j, "enc/config.json"); });
  EXPECT_TRUE(contains(msg, "num_hidden_layers")) << msg;

  j = vit_h();
  j["patch_size"] = 448;
  msg = error_of([&] { ClipVisionConfig::from_json(j, "enc/config.json"); });
  EXPECT_TRUE(contains(msg, "patch_size")) << msg;

  EXPECT_THROW(ClipVisionConfig::from_json(json::array(), "c.json"), Error);
  EXPECT_THROW(ClipVisionConfig::from_file("/nonexistent/config.json"), Error);
}

json sd15_vae() {
  return json::parse(R"({"_class_name": "AutoencoderKL", "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D",
                         "DownEncoderBlock2D"],
    "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32,
    "out_channels": 3, "sample_size": 512, "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D",
                       "UpDecoderBlock2D"]})");
}

TEST(VaeConfig, ReadsSd15WithDefaults) {
  const auto c = vae::VaeConfig::from_json(sd15_vae(), "vae/config.json");
  EXPECT_EQ(c.block_out_channels, (std::vector<int64_t>{128, 256, 512, 512}));
  EXPECT_EQ(c.layers_per_block, 2);
  EXPECT_EQ(c.norm_num_groups, 32);
  EXPECT_EQ(c.latent_channels, 4);
  EXPECT_EQ(c.downscale_factor(), 8);
  EXPECT_FLOAT_EQ(c.scaling_factor, 0.18215f);
  EXPECT_FALSE(c.has_shift_factor);
  // Keys absent from the SD1.5 file take diffusers' defaults.
  EXPECT_TRUE(c.use_quant_conv);
  EXPECT_TRUE(c.use_post_quant_conv);
  EXPECT_TRUE(c.mid_block_add_attention);
}

TEST(VaeConfig, ReadsOptionalSwitches) {
  json j = sd15_vae();
  j["shift_factor"] = 0.0609;
  j["scaling_factor"] = 1.5305;
  j["use_quant_conv"] = false;
  j["use_post_quant_conv"] = false;
  j["mid_block_add_attention"] = false;
  const auto c = vae::VaeConfig::from_json(j, "vae/config.json");
  EXPECT_TRUE(c.has_shift_factor);
  EXPECT_FLOAT_EQ(c.shift_factor, 0.0609f);
  EXPECT_FLOAT_EQ(c.scaling_factor, 1.5305f);
  EXPECT_FALSE(c.use_quant_conv);
  EXPECT_FALSE(c.use_post_quant_conv);
  EXPECT_FALSE(c.mid_block_add_attention);
  j["shift_factor"] = nullptr;
  EXPECT_FALSE(vae::VaeConfig::from_json(j, "vae/config.json").has_shift_factor);
}

TEST(VaeConfig, RejectsWhatItCannotRun) {
  auto rejects = [](const json& j, const std::string& part) {
    const std::string msg = error_of([&] { vae::VaeConfig::from_json(j, "vae/config.json"); });
    EXPECT_TRUE(contains(msg, "vae/config.json")) << msg;
    EXPECT_TRUE(contains(msg, part)) << "wanted '" << part << "' in: " << msg;
  };
  json j = sd15_vae();
  j["down_block_types"][1] = "AttnDownEncoderBlock2D";
  rejects(j, "AttnDownEncoderBlock2D");

  j = sd15_vae();
  j["up_block_types"].erase(0);
  rejects(j, "up_block_types");

  j = sd15_vae();
  j["act_fn"] = "mish";
  rejects(j, "act_fn");

  j = sd15_vae();
  j["norm_num_groups"] = 48;  // 128 / 48 is not whole
  rejects(j, "norm_num_groups");

  j = sd15_vae();
  j["block_out_channels"] = json::array();
  rejects(j, "block_out_channels");

  j = sd15_vae();
  j["layers_per_block"] = 0;
  rejects(j, "layers_per_block");

  j = sd15_vae();
  j["latent_channels"] = "4";
  rejects(j, "latent_channels");

  j = sd15_vae();
  j["_class_name"] = "AutoencoderTiny";
  rejects(j, "AutoencoderTiny");

  j = sd15_vae();
  j["scaling_factor"] = 0;
  rejects(j, "scaling_factor");
}

}  // namespace
}  // namespace ipa
