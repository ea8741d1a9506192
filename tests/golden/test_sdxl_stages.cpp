// The SDXL-specific stages against pipeline_sdxl (diffusers' StableDiffusionXLPipeline
// encode_prompt and _get_add_time_ids as tencent-ailab's IPAdapterXL calls them): prompt and
// negative embeddings (both encoders' hidden_states[-2] concatenated), pooled embeddings,
// the guidance batch of add_text_embeds and add_time_ids. Tolerance 1e-4 · max|expected|
// (fp32 reference, different summation order). And force_zeros_for_empty_prompt: no negative
// prompt gives exactly zero negative embeddings and pooled (the case's recorded check).
#include <gtest/gtest.h>

#include "pipeline/base_model.h"
#include "pipeline/family_stages.h"
#include "test_support.h"

namespace ipa {
namespace {

struct Xl {
  nlohmann::json c = test::load_case("pipeline_sdxl");
  const TensorFile& g = test::load_golden("pipeline_sdxl");
  BaseModel base = open_base_model(test::golden_path("pipeline_sdxl/sdxl"));
  std::unique_ptr<FamilyStages> stages = open_sdxl_stages(base, Precision::F32, {});
  GenerateRequest request() const {
    GenerateRequest r;
    r.prompt = c["generate_kwargs"]["prompt"];
    r.negative_prompt = c["generate_kwargs"]["negative_prompt"].get<std::string>();
    return r;
  }
};

TEST(GoldenSdxlStages, TextConditioningAndAddedConditioning) {
  Xl x;
  ASSERT_EQ(x.base.family, ModelFamily::SDXL);
  const TextConditioning t = x.stages->encode_text(x.request(), true, {});
  EXPECT_TRUE(test::AllCloseRel(t.cond, test::golden_tensor(x.g, "prompt_embeds"), 1e-4));
  EXPECT_TRUE(
      test::AllCloseRel(t.uncond, test::golden_tensor(x.g, "negative_prompt_embeds"), 1e-4));
  EXPECT_TRUE(
      test::AllCloseRel(t.pooled_cond, test::golden_tensor(x.g, "pooled_prompt_embeds"), 1e-4));
  EXPECT_TRUE(test::AllCloseRel(t.pooled_uncond,
                                test::golden_tensor(x.g, "negative_pooled_prompt_embeds"), 1e-4));
  const auto& kw = x.c["generate_kwargs"];
  const AddedConditioning a = x.stages->added_conditioning(x.request(), t, kw["width"].get<int>(),
                                                           kw["height"].get<int>(), 1, true);
  EXPECT_TRUE(test::AllCloseRel(a.text_embeds, test::golden_tensor(x.g, "add_text_embeds"), 1e-4));
  EXPECT_TRUE(test::AllCloseAbs(a.time_ids, test::golden_tensor(x.g, "add_time_ids"), 0.0));
}

TEST(GoldenSdxlStages, NoNegativePromptGivesZeroEmbeddings) {
  Xl x;
  ASSERT_TRUE(x.c["checks"]["negative_prompt_None_gives_zero_embeds"].get<bool>());
  ASSERT_TRUE(x.base.force_zeros_for_empty_prompt);
  GenerateRequest r = x.request();
  r.negative_prompt.reset();
  const TextConditioning t = x.stages->encode_text(r, true, {});
  EXPECT_TRUE(test::AllCloseRel(t.cond, test::golden_tensor(x.g, "prompt_embeds"), 1e-4));
  for (const Tensor* z : {&t.uncond, &t.pooled_uncond}) {
    ASSERT_TRUE(z->defined());
    for (float v : z->to_floats()) ASSERT_EQ(v, 0.f);
  }
  // An explicit empty negative prompt is encoded (diffusers zeroes only for None).
  r.negative_prompt = "";
  const TextConditioning e = x.stages->encode_text(r, true, {});
  float m = 0;
  for (float v : e.uncond.to_floats()) m = std::max(m, std::abs(v));
  EXPECT_GT(m, 0.f);
}

}  // namespace
}  // namespace ipa
