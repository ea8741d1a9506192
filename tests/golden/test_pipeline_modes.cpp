// Pipeline memory modes on the pipeline_sd15 models: a one-shot pipeline (UNet loaded after
// the encoders ran, released before the VAE decode) computes exactly what a pipeline that
// keeps every model loaded computes, refuses a second generation, and still hands out its
// UNet afterwards. Exact equality: both run the same ops on the same weights and inputs.
#include <gtest/gtest.h>

#include <filesystem>

#include "models/unet/unet.h"
#include "pipeline/pipeline.h"
#include "test_support.h"

namespace ipa {
namespace {

PipelineOptions sd15_options(bool one_shot) {
  PipelineOptions po;
  po.base = test::golden_path("pipeline_sd15/sd15");
  po.ip_adapter = test::golden_path("pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.safetensors");
  po.one_shot = one_shot;
  return po;
}

GenerateRequest small_request() {
  GenerateRequest r;
  r.prompt = "a cat";
  r.negative_prompt = "blurry";
  r.images = {test::golden_path("pipeline_sd15/reference.png")};
  r.steps = 2;
  r.width = r.height = 64;
  r.seed = 7;
  return r;
}

TEST(PipelineModes, OneShotMatchesKeptModelsExactly) {
  auto kept = Pipeline::load(sd15_options(false));
  const GenerateResult a = kept->generate(small_request());
  const GenerateResult a2 = kept->generate(small_request());  // kept models: again, same result
  auto once = Pipeline::load(sd15_options(true));
  const GenerateResult b = once->generate(small_request());
  const std::vector<float> fa = a.final_latents.to_floats(), fa2 = a2.final_latents.to_floats(),
                           fb = b.final_latents.to_floats();
  ASSERT_EQ(fa.size(), fb.size());
  EXPECT_EQ(fa, fa2);
  EXPECT_EQ(fa, fb);
  ASSERT_EQ(b.images.size(), 1u);
  EXPECT_EQ(a.images[0].rgb, b.images[0].rgb);
  EXPECT_EQ(a.unet_load_s, 0.0);  // loaded in Pipeline::load
  EXPECT_GT(b.unet_load_s, 0.0);  // loaded inside generate()

  try {
    once->generate(small_request());
    FAIL() << "a one-shot pipeline generated twice";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("one generation"), std::string::npos) << e.what();
  }
  // The UNet (with the adapter's layers) is reloaded on request, e.g. for a benchmark.
  EXPECT_TRUE(once->unet().has_ip_adapter());
}

// A bad request is refused before the encoders run, so a one-shot pipeline is still usable.
TEST(PipelineModes, OneShotRefusesBadRequestsBeforeEncoding) {
  auto once = Pipeline::load(sd15_options(true));
  GenerateRequest bad = small_request();
  bad.sampler = "no_such_sampler";
  EXPECT_TRUE(test::contains(test::error_of([&] { once->generate(bad); }), "no_such_sampler"));
  bad = small_request();
  bad.init_latents = Tensor::zeros({1, 4, 5, 5});
  EXPECT_TRUE(test::contains(test::error_of([&] { once->generate(bad); }), "[1, 4, 8, 8]"));
  EXPECT_EQ(once->generate(small_request()).images.size(), 1u);
}

// A one-shot pipeline still opens the UNet's weights file at load: a truncated one is an
// error naming it there, not after the encoders ran.
TEST(PipelineModes, OneShotFindsABrokenUNetFileAtLoad) {
  namespace fs = std::filesystem;
  const fs::path src = test::golden_path("pipeline_sd15/sd15");
  const fs::path dir = fs::path(test::temp_dir("one_shot_broken")) / "sd15";
  fs::copy(src, dir, fs::copy_options::recursive);
  const fs::path weights = dir / "unet" / "diffusion_pytorch_model.safetensors";
  fs::resize_file(weights, 100);
  PipelineOptions po = sd15_options(true);
  po.base = dir.string();
  const std::string msg = test::error_of([&] { Pipeline::load(po); });
  EXPECT_TRUE(test::contains(msg, "diffusion_pytorch_model.safetensors")) << msg;
}

TEST(PipelineModes, OneShotChecksTheAdapterAgainstTheUNetAtLoad) {
  PipelineOptions po = sd15_options(true);
  po.ip_adapter = test::golden_path("pipeline_sdxl/IP-Adapter/sdxl_models/ip-adapter_sdxl.bin");
  try {
    Pipeline::load(po);
    FAIL() << "an SDXL adapter loaded onto an SD1.5 UNet";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("20 wide"), std::string::npos) << msg;
    EXPECT_NE(msg.find("takes 16"), std::string::npos) << msg;
    EXPECT_NE(msg.find("ip-adapter_sdxl.bin"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace ipa
