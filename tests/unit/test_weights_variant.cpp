// Which weights file a model folder means: full precision first, as diffusers reads a folder,
// the `.fp16.` (or any) variant when asked for, a variant-only folder still read, Paddle's
// model_state.pdparams last and only for CLIP vision encoders.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_support.h"
#include "weights/model_folder.h"

namespace fs = std::filesystem;

namespace ipa {
namespace {

void touch(const fs::path& p) {
  std::ofstream(p) << "x";
}

TEST(WeightsVariant, FullPrecisionUnlessAVariantIsAskedFor) {
  const fs::path dir = test::temp_dir("variant_names");
  auto pick = [&](const std::string& variant) {
    return fs::path(find_weights_file(dir.string(), variant)).filename().string();
  };
  EXPECT_EQ(pick(""), "");
  touch(dir / "model_state.pdparams");
  touch(dir / "model_state.fp16.pdparams");
  EXPECT_EQ(pick(""), "model_state.pdparams");
  EXPECT_EQ(pick("fp16"), "model_state.fp16.pdparams");
  touch(dir / "model.fp16.safetensors");
  EXPECT_EQ(pick(""), "model_state.pdparams");  // a full-precision file beats any variant
  EXPECT_EQ(pick("fp16"), "model.fp16.safetensors");
  touch(dir / "pytorch_model.bin");
  EXPECT_EQ(pick(""), "pytorch_model.bin");
  touch(dir / "model.safetensors");
  EXPECT_EQ(pick(""), "model.safetensors");
  EXPECT_EQ(pick("fp16"), "model.fp16.safetensors");
  EXPECT_EQ(pick("bf16"), "model.safetensors");  // a variant that is not there: the plain file

  const fs::path only = test::temp_dir("variant_only");
  touch(only / "diffusion_pytorch_model.fp16.safetensors");
  EXPECT_EQ(fs::path(find_weights_file(only.string())).filename(),
            "diffusion_pytorch_model.fp16.safetensors");
}

// Both files of one encoder in one folder: the F32 one unless --variant fp16.
TEST(WeightsVariant, ModelFolderReadsTheChosenFile) {
  const fs::path dir = test::temp_dir("variant_folder");
  fs::copy(test::golden_path("clip_vision/image_encoder"), dir);
  fs::copy_file(test::golden_path("clip_vision/image_encoder_fp16/model.safetensors"),
                dir / "model.fp16.safetensors");
  const ModelFolder full = open_model_folder(dir.string());
  const std::string key = full.weights.keys().front();
  EXPECT_EQ(full.weights.get(key).dtype(), DType::F32);
  const ModelFolder half = open_model_folder(dir.string(), DType::F32, "fp16");
  EXPECT_EQ(fs::path(half.weights_path).filename(), "model.fp16.safetensors");
  EXPECT_EQ(half.weights.get(key).dtype(), DType::F16);
}

TEST(WeightsVariant, PdparamsOnlyForClipVisionEncoders) {
  const fs::path dir = test::temp_dir("variant_pd_unet");
  std::ofstream(dir / "config.json") << R"({"_class_name": "UNet2DConditionModel"})";
  fs::copy_file(test::golden_path("pdparams_encoder/models/image_encoder/model_state.pdparams"),
                dir / "model_state.pdparams");
  const std::string msg = test::error_of([&] { open_model_folder(dir.string()); });
  EXPECT_TRUE(test::contains(msg, "CLIP vision encoders only")) << msg;
  EXPECT_TRUE(test::contains(msg, (dir / "model_state.pdparams").string())) << msg;
}

}  // namespace
}  // namespace ipa
