// CLIP vision encoder against transformers' CLIPVisionModelWithProjection (case clip_vision),
// for the F32 and the F16 copy of the same weights.
#include <gtest/gtest.h>

#include "models/clip_vision.h"
#include "test_support.h"

namespace ipa {
namespace {

constexpr double kTol = 1e-4;  // fp32 module tolerance: max|Δ| ≤ 1e-4 · max|expected|

class ClipVisionGolden : public ::testing::TestWithParam<const char*> {
 protected:
  static const TensorFile& golden() { return test::load_golden("clip_vision"); }
  static Tensor tensor(const std::string& key) { return test::golden_tensor(golden(), key); }
  ClipVisionModel load() const {
    return ClipVisionModel::load(test::golden_path(std::string("clip_vision/") + GetParam()));
  }
};

TEST_P(ClipVisionGolden, ConfigMatchesCase) {
  const auto c = load().config();
  const nlohmann::json case_json = test::load_case("clip_vision");
  const auto& j = case_json["config"];
  EXPECT_EQ(c.hidden_size, j["hidden_size"].get<int64_t>());
  EXPECT_EQ(c.intermediate_size, j["intermediate_size"].get<int64_t>());
  EXPECT_EQ(c.projection_dim, j["projection_dim"].get<int64_t>());
  EXPECT_EQ(c.num_hidden_layers, j["num_hidden_layers"].get<int64_t>());
  EXPECT_EQ(c.num_attention_heads, j["num_attention_heads"].get<int64_t>());
  EXPECT_EQ(c.patch_size, j["patch_size"].get<int64_t>());
  EXPECT_EQ(c.image_size, j["image_size"].get<int64_t>());
  EXPECT_EQ(c.hidden_act, j["hidden_act"].get<std::string>());
  EXPECT_EQ(c.num_tokens(), tensor("last_hidden_state").size(1));
}

TEST_P(ClipVisionGolden, AllOutputs) {
  const ClipVisionModel model = load();
  ClipVisionRequest want;
  want.image_embeds = want.last_hidden_state = want.penultimate = want.all_hidden_states = true;
  const ClipVisionOutput out = model.forward(tensor("pixel_values"), want);

  EXPECT_TRUE(test::AllCloseRel(out.image_embeds, tensor("image_embeds"), kTol));
  EXPECT_TRUE(test::AllCloseRel(out.last_hidden_state, tensor("last_hidden_state"), kTol));
  EXPECT_TRUE(test::AllCloseRel(out.penultimate, tensor("hidden_states_m2"), kTol));
  const Tensor all = tensor("hidden_states_all");
  ASSERT_EQ(static_cast<int64_t>(out.hidden_states.size()), all.size(0));
  for (int64_t i = 0; i < all.size(0); ++i) {
    SCOPED_TRACE("hidden_states[" + std::to_string(i) + "]");
    EXPECT_TRUE(
        test::AllCloseRel(out.hidden_states[static_cast<size_t>(i)], all.select(0, i), kTol));
  }
}

TEST_P(ClipVisionGolden, PenultimateOnlySkipsLastLayer) {
  const ClipVisionModel model = load();
  ClipVisionRequest want;
  want.image_embeds = false;
  want.penultimate = true;
  EXPECT_EQ(model.layers_needed(want), model.config().num_hidden_layers - 1);
  const ClipVisionOutput out = model.forward(tensor("pixel_values"), want);
  EXPECT_TRUE(test::AllCloseRel(out.penultimate, tensor("hidden_states_m2"), kTol));
  EXPECT_FALSE(out.image_embeds.defined());
  EXPECT_FALSE(out.last_hidden_state.defined());
  EXPECT_TRUE(out.hidden_states.empty());
}

TEST_P(ClipVisionGolden, DefaultRequestGivesImageEmbedsOnly) {
  const ClipVisionOutput out = load().forward(tensor("pixel_values"));
  EXPECT_TRUE(test::AllCloseRel(out.image_embeds, tensor("image_embeds"), kTol));
  EXPECT_FALSE(out.penultimate.defined());
  EXPECT_TRUE(out.hidden_states.empty());
}

// One image alone gives that image's row of the batched result.
TEST_P(ClipVisionGolden, SingleImageMatchesItsBatchRow) {
  const ClipVisionModel model = load();
  const Tensor pixels = tensor("pixel_values");
  for (int64_t b = 0; b < pixels.size(0); ++b) {
    SCOPED_TRACE("image " + std::to_string(b));
    ClipVisionRequest want;
    want.penultimate = true;
    const ClipVisionOutput out = model.forward(pixels.narrow(0, b, 1).contiguous(), want);
    EXPECT_TRUE(test::AllCloseRel(out.image_embeds, tensor("image_embeds").narrow(0, b, 1), kTol));
    EXPECT_TRUE(
        test::AllCloseRel(out.penultimate, tensor("hidden_states_m2").narrow(0, b, 1), kTol));
  }
}

TEST_P(ClipVisionGolden, RejectsWrongImageSize) {
  const ClipVisionModel model = load();
  const auto& c = model.config();
  const Tensor wrong =
      Tensor::zeros({1, c.num_channels, c.image_size + c.patch_size, c.image_size + c.patch_size});
  try {
    model.forward(wrong);
    FAIL() << "expected ipa::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(std::to_string(c.image_size)), std::string::npos) << msg;
    EXPECT_NE(msg.find(shape_str(wrong.shape())), std::string::npos) << msg;
  }
  // A missing batch dimension and a wrong channel count: the error gives the shape it got.
  for (const Shape& bad : {Shape{c.num_channels, c.image_size, c.image_size},
                           Shape{1, c.num_channels + 1, c.image_size, c.image_size}}) {
    const std::string msg = test::error_of([&] { model.forward(Tensor::zeros(bad)); });
    EXPECT_NE(msg.find("pixel_values must be [batch, " + std::to_string(c.num_channels)),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("got " + shape_str(bad)), std::string::npos) << msg;
  }
}

INSTANTIATE_TEST_SUITE_P(Folders, ClipVisionGolden,
                         ::testing::Values("image_encoder", "image_encoder_fp16"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace ipa
