// Loading the CLIP vision encoder and the VAE from the golden model files, altered: missing
// tensors, configs that disagree with the weights, legacy names, optional parts. Every error
// must name the file, the tensor key and the expected and actual shapes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "models/clip_vision.h"
#include "models/vae/autoencoder_kl.h"
#include "test_support.h"

namespace ipa {
namespace {

namespace fs = std::filesystem;

using test::contains;
using test::error_of;

const std::string kClipDir = "clip_vision/image_encoder";
const std::string kClipWeights = "clip_vision/image_encoder/model.safetensors";
const std::string kVaeDir = "vae/vae";
const std::string kVaeWeights = "vae/vae/diffusion_pytorch_model.safetensors";

// A store with a golden file's tensors after `edit` renamed (return the new name) or dropped
// them (return "").
WeightStore edited_store(const std::string& rel,
                         const std::function<std::string(const std::string&)>& edit) {
  const std::string path = test::golden_path(rel);
  TensorFile file = load_tensor_file(path);
  WeightStore store;
  store.set_label(path);
  for (const auto& nt : file.tensors) {
    const std::string name = edit(nt.name);
    if (!name.empty()) store.add(name, nt.tensor, path);
  }
  return store;
}

nlohmann::json golden_config(const std::string& dir) {
  return read_json_file(test::golden_path(dir + "/config.json"));
}

// ---- CLIP vision ------------------------------------------------------------------------

TEST(ClipVisionLoading, MissingTensorIsNamed) {
  const auto config = ClipVisionConfig::from_json(golden_config(kClipDir), "config.json");
  // A tensor of the last layer (the config says how many there are).
  const std::string key = "vision_model.encoder.layers." +
                          std::to_string(config.num_hidden_layers - 1) + ".mlp.fc1.bias";
  ASSERT_TRUE(load_tensor_file(test::golden_path(kClipWeights)).find(key) != nullptr) << key;
  const WeightStore store =
      edited_store(kClipWeights, [&](const std::string& n) { return n == key ? "" : n; });
  const std::string msg = error_of([&] { ClipVisionModel(config, store.scope("")); });
  EXPECT_TRUE(contains(msg, key)) << msg;
  EXPECT_TRUE(contains(msg, "model.safetensors")) << msg;
  EXPECT_TRUE(contains(msg, "missing")) << msg;
}

TEST(ClipVisionLoading, ConfigWiderThanWeightsNamesShapes) {
  auto j = golden_config(kClipDir);
  const int64_t E = j["hidden_size"], I = j["intermediate_size"];
  j["intermediate_size"] = I + 8;
  const auto config = ClipVisionConfig::from_json(j, "config.json");
  WeightStore store;
  store.add_file(test::golden_path(kClipWeights));
  const std::string msg = error_of([&] { ClipVisionModel(config, store.scope("")); });
  EXPECT_TRUE(contains(msg, "model.safetensors")) << msg;
  EXPECT_TRUE(contains(msg, "mlp.fc1.weight")) << msg;
  EXPECT_TRUE(contains(msg, shape_str({I + 8, E}))) << msg;
  EXPECT_TRUE(contains(msg, shape_str({I, E}))) << msg;
}

TEST(ClipVisionLoading, WrongImageSizeInConfigHitsPositionEmbedding) {
  auto j = golden_config(kClipDir);
  j["image_size"] = j["image_size"].get<int64_t>() + 2 * j["patch_size"].get<int64_t>();
  const auto config = ClipVisionConfig::from_json(j, "config.json");
  WeightStore store;
  store.add_file(test::golden_path(kClipWeights));
  const std::string msg = error_of([&] { ClipVisionModel(config, store.scope("")); });
  EXPECT_TRUE(contains(msg, "position_embedding.weight")) << msg;
  EXPECT_TRUE(contains(msg, shape_str({config.num_tokens(), config.hidden_size}))) << msg;
}

TEST(ClipVisionLoading, FewerLayersInConfigThanInWeightsIsAnError) {
  auto j = golden_config(kClipDir);
  const int64_t L = j["num_hidden_layers"];
  j["num_hidden_layers"] = L - 1;
  const auto config = ClipVisionConfig::from_json(j, "config.json");
  WeightStore store;
  store.add_file(test::golden_path(kClipWeights));
  const std::string msg = error_of([&] { ClipVisionModel(config, store.scope("")); });
  EXPECT_TRUE(contains(msg, "num_hidden_layers")) << msg;
  EXPECT_TRUE(contains(msg, "layers." + std::to_string(L - 1))) << msg;
}

TEST(ClipVisionLoading, FolderWithoutWeightsOrConfig) {
  const std::string dir = test::temp_dir("clip_noweights");
  fs::copy_file(test::golden_path(kClipDir + "/config.json"), dir + "/config.json");
  std::string msg = error_of([&] { ClipVisionModel::load(dir); });
  EXPECT_TRUE(contains(msg, dir)) << msg;
  EXPECT_TRUE(contains(msg, "model.safetensors")) << msg;

  fs::remove(dir + "/config.json");
  msg = error_of([&] { ClipVisionModel::load(dir); });
  EXPECT_TRUE(contains(msg, "config.json")) << msg;
  EXPECT_THROW(ClipVisionModel::load(dir + "/nope"), Error);
}

// The two F16 / F32 files hold the same numbers, so the models must agree exactly.
TEST(ClipVisionLoading, LoadsF16Weights) {
  const ClipVisionModel a = ClipVisionModel::load(test::golden_path("clip_vision/image_encoder"));
  const ClipVisionModel b =
      ClipVisionModel::load(test::golden_path("clip_vision/image_encoder_fp16"));
  const auto& c = a.config();
  const Tensor pixels = test::random_tensor({1, c.num_channels, c.image_size, c.image_size}, 3);
  EXPECT_TRUE(test::AllCloseAbs(b.forward(pixels).image_embeds, a.forward(pixels).image_embeds, 0));
}

// With one layer, hidden_states[-2] is hidden_states[0]: the embeddings after pre_layrnorm.
TEST(ClipVisionLoading, OneLayerModelPenultimateIsEmbeddings) {
  auto j = golden_config(kClipDir);
  j["num_hidden_layers"] = 1;
  const auto config = ClipVisionConfig::from_json(j, "config.json");
  const WeightStore store = edited_store(kClipWeights, [](const std::string& n) {
    const std::string layers = "vision_model.encoder.layers.";
    if (n.rfind(layers, 0) == 0 && n.rfind(layers + "0.", 0) != 0) return std::string();
    return n;
  });
  const ClipVisionModel model(config, store.scope(""));
  ClipVisionRequest want;
  want.penultimate = want.all_hidden_states = true;
  const Tensor pixels = test::golden_tensor(test::load_golden("clip_vision"), "pixel_values");
  const ClipVisionOutput out = model.forward(pixels, want);
  ASSERT_EQ(out.hidden_states.size(), 2u);
  EXPECT_TRUE(test::AllCloseAbs(out.penultimate, out.hidden_states[0], 0));
  // and hidden_states[0] does not depend on the layer count
  const Tensor h0 = test::golden_tensor(test::load_golden("clip_vision"), "hidden_states_all");
  EXPECT_TRUE(test::AllCloseRel(out.hidden_states[0], h0.select(0, 0), 1e-4));
  want = {};
  want.image_embeds = false;
  want.penultimate = true;
  EXPECT_EQ(model.layers_needed(want), 0);
  EXPECT_TRUE(test::AllCloseAbs(model.forward(pixels, want).penultimate, out.hidden_states[0], 0));
}

// ---- VAE --------------------------------------------------------------------------------

vae::VaeConfig vae_config(const std::function<void(nlohmann::json&)>& edit = {}) {
  auto j = golden_config(kVaeDir);
  if (edit) edit(j);
  return vae::VaeConfig::from_json(j, "vae/config.json");
}

TEST(VaeLoading, MissingTensorIsNamed) {
  const std::string key = "decoder.up_blocks.0.upsamplers.0.conv.weight";
  const WeightStore store =
      edited_store(kVaeWeights, [&](const std::string& n) { return n == key ? "" : n; });
  const std::string msg = error_of([&] { vae::AutoencoderKL(vae_config(), store.scope("")); });
  EXPECT_TRUE(contains(msg, key)) << msg;
  EXPECT_TRUE(contains(msg, "diffusion_pytorch_model.safetensors")) << msg;
}

TEST(VaeLoading, ConfigDisagreeingWithWeightsNamesShapes) {
  WeightStore store;
  store.add_file(test::golden_path(kVaeWeights));
  const auto golden = vae_config();
  const auto config = vae_config(
      [](nlohmann::json& j) { j["latent_channels"] = j["latent_channels"].get<int64_t>() + 2; });
  const std::string msg = error_of([&] { vae::AutoencoderKL(config, store.scope("")); });
  EXPECT_TRUE(contains(msg, "diffusion_pytorch_model.safetensors")) << msg;
  EXPECT_TRUE(contains(msg, "encoder.conv_out.weight")) << msg;
  const int64_t C = golden.block_out_channels.back();
  EXPECT_TRUE(contains(msg, shape_str({2 * config.latent_channels, C, 3, 3}))) << msg;
  EXPECT_TRUE(contains(msg, shape_str({2 * golden.latent_channels, C, 3, 3}))) << msg;

  const auto deeper = vae_config(
      [](nlohmann::json& j) { j["layers_per_block"] = j["layers_per_block"].get<int64_t>() + 1; });
  const std::string msg2 = error_of([&] { vae::AutoencoderKL(deeper, store.scope("")); });
  EXPECT_TRUE(contains(msg2, "resnets." + std::to_string(deeper.layers_per_block - 1))) << msg2;
}

TEST(VaeLoading, LegacyAttentionNamesGiveTheSameModel) {
  const std::map<std::string, std::string> legacy = {
      {"to_q", "query"}, {"to_k", "key"}, {"to_v", "value"}, {"to_out.0", "proj_attn"}};
  const WeightStore store = edited_store(kVaeWeights, [&](const std::string& n) {
    for (const auto& [now, old] : legacy) {
      const std::string part = ".attentions.0." + now + ".";
      const auto at = n.find(part);
      if (at != std::string::npos) {
        return n.substr(0, at) + ".attentions.0." + old + "." + n.substr(at + part.size());
      }
    }
    return n;
  });
  ASSERT_TRUE(store.has("encoder.mid_block.attentions.0.proj_attn.weight"));
  const vae::AutoencoderKL renamed(vae_config(), store.scope(""));
  const vae::AutoencoderKL plain = vae::AutoencoderKL::load(test::golden_path(kVaeDir));
  const Tensor z = test::golden_tensor(test::load_golden("vae"), "decode_input");
  EXPECT_TRUE(test::AllCloseAbs(renamed.decode(z), plain.decode(z), 0));
}

TEST(VaeLoading, OptionalPartsAreNotRequired) {
  const WeightStore store = edited_store(kVaeWeights, [](const std::string& n) {
    if (n.rfind("quant_conv.", 0) == 0 || n.rfind("post_quant_conv.", 0) == 0) return std::string();
    if (n.find(".attentions.") != std::string::npos) return std::string();
    return n;
  });
  const auto config = vae_config([](nlohmann::json& j) {
    j["use_quant_conv"] = false;
    j["use_post_quant_conv"] = false;
    j["mid_block_add_attention"] = false;
  });
  const vae::AutoencoderKL model(config, store.scope(""));
  const Tensor z = test::golden_tensor(test::load_golden("vae"), "decode_input");
  const Tensor image = model.decode(z);
  EXPECT_EQ(image.shape(),
            (Shape{z.size(0), config.out_channels, z.size(2) * config.downscale_factor(),
                   z.size(3) * config.downscale_factor()}));
  const auto d = model.encode(image);
  EXPECT_EQ(d.mean.shape(), z.shape());
  // Without those parts the results differ from the full model.
  const vae::AutoencoderKL full = vae::AutoencoderKL::load(test::golden_path(kVaeDir));
  EXPECT_FALSE(test::AllCloseRel(image, full.decode(z), 1e-3));
}

TEST(VaeLoading, FolderWithoutWeights) {
  const std::string dir = test::temp_dir("vae_noweights");
  fs::copy_file(test::golden_path(kVaeDir + "/config.json"), dir + "/config.json");
  const std::string msg = error_of([&] { vae::AutoencoderKL::load(dir); });
  EXPECT_TRUE(contains(msg, "diffusion_pytorch_model.safetensors")) << msg;
  EXPECT_TRUE(contains(msg, dir)) << msg;
}

}  // namespace
}  // namespace ipa
