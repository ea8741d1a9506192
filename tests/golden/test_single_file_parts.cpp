// Each model read from a single-file checkpoint (single_file_sd15: F32 .safetensors and the F16
// .ckpt in its state_dict wrapper; single_file_sdxl: SGM F16, OpenCLIP text encoder 2) holds
// exactly the tensors of the diffusers folder it was converted from: the same names, the same
// shapes, the same values (the weights are fp16-exact) — the case JSON's round trip ("missing":
// [], "extra": [], "max_abs_diff": 0) seen from our loader. The folder is the case's config
// folder (from_single_file(config=...)).
#include <gtest/gtest.h>

#include "formats/safetensors.h"
#include "pipeline/base_model.h"
#include "test_support.h"

namespace ipa {
namespace {

void expect_same_model(const ModelFolder& got, const ModelFolder& want, const std::string& what) {
  SCOPED_TRACE(what);
  const std::vector<std::string> keys = got.weights.keys();
  EXPECT_EQ(keys, want.weights.keys());
  for (const auto& k : want.weights.keys()) {
    if (!got.weights.has(k)) continue;
    const Tensor a = got.weights.get_f32(k), b = want.weights.get_f32(k);
    ASSERT_EQ(a.shape(), b.shape()) << k;
    EXPECT_TRUE(a.to_floats() == b.to_floats()) << k;
  }
}

void check_case(const std::string& name) {
  const nlohmann::json c = test::load_case(name);
  const std::string config = test::golden_path(test::single_file_config(c));
  const BaseModel folder = open_base_model(config);
  ASSERT_FALSE(c.at("files").empty());
  for (const auto& [file, what] : c.at("files").items()) {
    SCOPED_TRACE(file);
    const BaseModel single = open_base_model(test::golden_path(name + "/" + file), config);
    EXPECT_EQ(single.family, folder.family);
    expect_same_model(open_base_unet(single, DType::F32), open_base_unet(folder, DType::F32),
                      "unet");
    expect_same_model(open_base_vae(single, DType::F32), open_base_vae(folder, DType::F32), "vae");
    ASSERT_EQ(single.text_encoder_parts.size(), folder.text_encoder_dirs.size());
    for (size_t i = 0; i < folder.text_encoder_dirs.size(); ++i) {
      expect_same_model(open_base_text_encoder(single, i, DType::F32),
                        open_base_text_encoder(folder, i, DType::F32),
                        "text encoder " + std::to_string(i + 1));
    }
  }
}

TEST(GoldenSingleFile, Sd15PartsEqualTheFolder) {
  check_case("single_file_sd15");
}

TEST(GoldenSingleFile, SdxlPartsEqualTheFolder) {
  check_case("single_file_sdxl");
}

// The tensors the case stores from the converted file: the OpenCLIP text projection is the
// folder's text_projection.weight transposed, and the fused in-projection its q, k, v stacked.
TEST(GoldenSingleFile, SdxlOpenClipTensorsAsRecorded) {
  const TensorFile& g = test::load_golden("single_file_sdxl");
  const std::string config =
      test::golden_path(test::single_file_config(test::load_case("single_file_sdxl")));
  const ModelFolder te2 = open_base_text_encoder(open_base_model(config), 1, DType::F32);
  const Tensor proj = test::golden_tensor(g, "ldm.conditioner.embedders.1.model.text_projection");
  EXPECT_TRUE(test::AllCloseAbs(te2.weights.get_f32("text_projection.weight"),
                                proj.transpose(0, 1).contiguous(), 0.0));
  const Tensor fused = test::golden_tensor(
      g, "ldm.conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight");
  const int64_t d = fused.size(0) / 3;
  const char* names[] = {"q_proj", "k_proj", "v_proj"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(test::AllCloseAbs(
        te2.weights.get_f32(std::string("text_model.encoder.layers.0.self_attn.") + names[i] +
                            ".weight"),
        fused.narrow(0, i * d, d).contiguous(), 0.0))
        << names[i];
  }
}

// A file with only the UNet (some fine-tunes ship that way) takes the other models from the
// --config folder when it has their weights, and is refused without one.
TEST(GoldenSingleFile, UNetOnlyFileUsesTheConfigFolder) {
  const nlohmann::json c = test::load_case("single_file_sd15");
  const std::string config = test::golden_path(test::single_file_config(c));
  const std::string full = test::golden_path("single_file_sd15/" + c.at("files").begin().key());
  const TensorFile source = load_tensor_file(full);
  std::vector<NamedTensor> unet;
  for (const auto& t : source.tensors) {
    // (a .ckpt's keys are inside its state_dict)
    const size_t at = t.name.find("model.diffusion_model.");
    if (at != std::string::npos) unet.push_back({t.name.substr(at), t.tensor});
  }
  ASSERT_FALSE(unet.empty());
  const std::string path = test::temp_dir("unet_only") + "/unet_only.safetensors";
  write_safetensors(path, unet);
  const BaseModel base = open_base_model(path, config);
  EXPECT_TRUE(base.unet_part.has_value());
  EXPECT_FALSE(base.vae_part.has_value());
  EXPECT_EQ(base.vae_dir, config + "/vae");
  ASSERT_FALSE(base.text_encoder_parts.at(0).has_value());
  expect_same_model(open_base_vae(base, DType::F32),
                    open_base_vae(open_base_model(config), DType::F32), "vae");
  const std::string msg = test::error_of([&] { open_base_model(path); });
  EXPECT_TRUE(test::contains(msg, path)) << msg;
  EXPECT_TRUE(test::contains(msg, "the checkpoint has no vae (first_stage_model.*)")) << msg;
}

}  // namespace
}  // namespace ipa
