// The scheduler part of the full-pipeline goldens: the pipeline's own scheduler config,
// classifier-free guidance on the stored UNet outputs, and every step's latents.
#include <gtest/gtest.h>

#include <string>

#include "sampling/guidance.h"
#include "sampling/scheduler.h"
#include "test_support.h"

namespace ipa {
namespace {

// Runs the stored denoising loop through our scheduler.
void replay(const std::string& name, const nlohmann::json& config, float guidance) {
  const TensorFile& g = test::load_golden(name);
  auto golden = [&](const std::string& key) { return test::golden_tensor(g, key); };
  auto sched = sampling::make_scheduler("", config, name);
  const Tensor want_t = golden("timesteps");
  sched->set_timesteps(static_cast<int>(want_t.numel()));
  ASSERT_EQ(sched->timesteps().size(), static_cast<size_t>(want_t.numel()));
  const std::vector<float> t = want_t.to(DType::F32).to_floats();
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(sched->timesteps()[i], t[i]) << i;
  if (const Tensor* s = g.find("sigmas")) {
    const std::vector<float> want_s = s->to_floats();
    ASSERT_EQ(sched->sigmas().size(), want_s.size());
    for (size_t i = 0; i < want_s.size(); ++i) EXPECT_EQ(sched->sigmas()[i], want_s[i]) << i;
  }
  if (const Tensor* s = g.find("init_noise_sigma")) {
    EXPECT_EQ(sched->init_noise_sigma(), s->item_f32({}));
  }
  const float scale = sched->init_noise_sigma();
  const std::vector<float> init = golden("init_latents").to_floats();
  std::vector<float> scaled(init.size());
  for (size_t i = 0; i < init.size(); ++i) scaled[i] = init[i] * scale;
  Tensor latents = Tensor::from_vector(golden("init_latents").shape(), scaled);

  const Tensor unet_in = golden("step_unet_input");
  const Tensor noise_pred = golden("step_noise_pred");
  const Tensor step_latents = golden("step_latents");
  for (size_t i = 0; i < sched->timesteps().size(); ++i) {
    SCOPED_TRACE(name + " step " + std::to_string(i));
    const auto idx = static_cast<int64_t>(i);
    const Tensor x_in = sched->scale_model_input(latents, i);
    // The UNet saw the batch [x_in, x_in] (uncond, cond).
    const Tensor want_in = unet_in.select(0, idx);
    EXPECT_TRUE(test::AllCloseRel(x_in, want_in.narrow(0, 0, 1), 0.0));
    EXPECT_TRUE(test::AllCloseRel(x_in, want_in.narrow(0, 1, 1), 0.0));
    const Tensor eps = sampling::classifier_free_guidance(noise_pred.select(0, idx), guidance);
    latents = sched->step(eps, i, latents, nullptr).prev_sample;
    EXPECT_TRUE(test::AllCloseRel(latents, step_latents.select(0, idx), 0.0));
  }
}

TEST(GoldenSchedulerInPipeline, SD15DdimWithGuidance) {
  const auto c = test::load_case("pipeline_sd15");
  replay("pipeline_sd15", c.at("scheduler"),
         c.at("generate_kwargs").at("guidance_scale").get<float>());
}

TEST(GoldenSchedulerInPipeline, SDXLEulerLeadingWithGuidance) {
  // The case is part of every golden tree (the other SDXL pipeline tests need it too): a
  // missing one is a failure, not a skip.
  const auto c = test::load_case("pipeline_sdxl");
  replay("pipeline_sdxl", c.at("scheduler_file"),
         c.at("generate_kwargs").at("guidance_scale").get<float>());
}

}  // namespace
}  // namespace ipa
