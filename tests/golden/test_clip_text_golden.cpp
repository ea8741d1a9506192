// CLIP text encoders against transformers: the SD1.5 pipeline's prompt embeddings and both SDXL
// text encoders (F16 weights, gelu / quick_gelu, projection, hidden_states[-2], pooled).
// Tolerance: max|Δ| ≤ 1e-4 · max|expected| (fp32 module tolerance).
#include <gtest/gtest.h>

#include "formats/json_file.h"
#include "models/clip_text.h"
#include "ops/ops.h"
#include "test_support.h"
#include "text/clip_tokenizer.h"

namespace ipa {
namespace {

constexpr double kTol = 1e-4;

// hidden_act as the folder's config.json gives it (quick_gelu / gelu in the released models).
std::string config_act(const std::string& folder) {
  return read_json_file(test::golden_path(folder + "/config.json")).at("hidden_act");
}

TEST(ClipTextGolden, Sd15PromptEmbeds) {
  const TensorFile& g = test::load_golden("pipeline_sd15");
  const ClipTextEncoder te =
      ClipTextEncoder::from_folder(test::golden_path("pipeline_sd15/sd15/text_encoder"));
  EXPECT_EQ(te.config().hidden_act, config_act("pipeline_sd15/sd15/text_encoder"));
  EXPECT_FALSE(te.has_projection());
  for (const char* name : {"prompt", "negative_prompt"}) {
    SCOPED_TRACE(name);
    const Tensor ids = test::golden_tensor(g, std::string(name) + "_ids");
    const Tensor expected = test::golden_tensor(g, std::string(name) + "_embeds");
    EXPECT_TRUE(test::AllCloseRel(te.prompt_embeds(ids), expected, kTol));
    EXPECT_TRUE(test::AllCloseRel(te.forward(ids).last_hidden_state, expected, kTol));
  }
}

TEST(ClipTextGolden, Sd15FromPromptTextThroughTokenizer) {
  const auto j = test::load_case("pipeline_sd15");
  const TensorFile& g = test::load_golden("pipeline_sd15");
  const ClipTokenizer tok =
      ClipTokenizer::from_folder(test::golden_path("pipeline_sd15/sd15/tokenizer"));
  const ClipTextEncoder te =
      ClipTextEncoder::from_folder(test::golden_path("pipeline_sd15/sd15/text_encoder"));
  const auto& kw = j.at("generate_kwargs");
  const Tensor ids = tok.encode_batch(
      {kw.at("negative_prompt").get<std::string>(), kw.at("prompt").get<std::string>()});
  const Tensor embeds = te.prompt_embeds(ids);
  EXPECT_TRUE(test::AllCloseRel(embeds.narrow(0, 0, 1),
                                test::golden_tensor(g, "negative_prompt_embeds"), kTol));
  EXPECT_TRUE(
      test::AllCloseRel(embeds.narrow(0, 1, 1), test::golden_tensor(g, "prompt_embeds"), kTol));
}

TEST(ClipTextGolden, SdxlBothEncoders) {
  const TensorFile& g = test::load_golden("sdxl");
  const ClipTextEncoder te1 = ClipTextEncoder::from_folder(test::golden_path("sdxl/text_encoder"));
  const ClipTextEncoder te2 =
      ClipTextEncoder::from_folder(test::golden_path("sdxl/text_encoder_2"));
  EXPECT_EQ(te1.config().hidden_act, config_act("sdxl/text_encoder"));
  EXPECT_EQ(te2.config().hidden_act, config_act("sdxl/text_encoder_2"));
  EXPECT_FALSE(te1.has_projection());
  ASSERT_TRUE(te2.has_projection());

  const Tensor ids1 = test::golden_tensor(g, "te1.input_ids");
  const Tensor ids2 = test::golden_tensor(g, "te2.input_ids");
  const ClipTextOutput o1 = te1.forward(ids1, true);
  const ClipTextOutput o2 = te2.forward(ids2, true);
  ASSERT_EQ(o1.hidden_states.size(), static_cast<size_t>(te1.config().num_hidden_layers + 1));
  ASSERT_EQ(o2.hidden_states.size(), static_cast<size_t>(te2.config().num_hidden_layers + 1));
  const Tensor& h1 = o1.hidden_states[o1.hidden_states.size() - 2];
  const Tensor& h2 = o2.hidden_states[o2.hidden_states.size() - 2];

  EXPECT_TRUE(test::AllCloseRel(h1, test::golden_tensor(g, "te1.hidden_states_m2"), kTol));
  EXPECT_TRUE(test::AllCloseRel(o1.last_hidden_state,
                                test::golden_tensor(g, "te1.last_hidden_state"), kTol));
  EXPECT_TRUE(
      test::AllCloseRel(o1.pooled_output, test::golden_tensor(g, "te1.pooler_output"), kTol));
  EXPECT_TRUE(test::AllCloseRel(h2, test::golden_tensor(g, "te2.hidden_states_m2"), kTol));
  EXPECT_TRUE(test::AllCloseRel(o2.last_hidden_state,
                                test::golden_tensor(g, "te2.last_hidden_state"), kTol));
  EXPECT_TRUE(test::AllCloseRel(o2.text_embeds, test::golden_tensor(g, "te2.text_embeds"), kTol));
  // SDXL's prompt embeds: both penultimate hidden states side by side.
  EXPECT_TRUE(
      test::AllCloseRel(ops::concat({h1, h2}, -1), test::golden_tensor(g, "prompt_embeds"), kTol));

  // Running only the layers hidden_states[-2] needs gives the same tensor.
  EXPECT_TRUE(test::AllCloseAbs(te2.hidden_state(ids2, -2), h2, 0.0));
}

TEST(ClipTextGolden, ClipSkipIsFinalNormOfAnEarlierHiddenState) {
  // diffusers SD1.5 with clip_skip = 1 uses final_layer_norm(hidden_states[-2]).
  const TensorFile& g = test::load_golden("sdxl");
  const ClipTextEncoder te1 = ClipTextEncoder::from_folder(test::golden_path("sdxl/text_encoder"));
  const Tensor ids = test::golden_tensor(g, "te1.input_ids");
  const Tensor expected =
      te1.final_layer_norm(test::golden_tensor(g, "te1.hidden_states_m2").contiguous());
  EXPECT_TRUE(test::AllCloseRel(te1.prompt_embeds(ids, 1), expected, kTol));
}

}  // namespace
}  // namespace ipa
