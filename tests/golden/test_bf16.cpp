// BF16 precision (models loaded with Precision::BF16: convolutions and linear layers read bf16
// inputs and weights (loaded as bf16) and accumulate in F32; the UNet's attention rounds Q, K,
// V and P to bf16 where the CPU has avx512_bf16; norms and the rest stay F32)
// against the same
// fp32 goldens as the F32 tests, with bf16's own tolerances:
// - one module (UNet forward, VAE decode): max|Δ| ≤ 2e-2 · max|expected|. bf16 keeps 8
//   significant bits (unit roundoff 2^-9 ≈ 2e-3) on both factors of every product; over a
//   module's chain of layers that gives errors of a few 1e-3 of the output's range, and 2e-2
//   leaves a factor of a few for the tiny random models' less regular weights.
// - the whole pipeline_sd15 generation (4 CFG steps, latents std ≈ 7): final latents within
//   5e-2 · max|expected|, PNG pixels within ±8 of 255 (the steps compound the module error).
// The measured errors are printed and recorded as test properties (docs/performance.md quotes
// them). Skipped on CPUs without bf16 compute (ops::cpu_has_bf16()).
#include <gtest/gtest.h>

#include <cstdio>

#include "formats/safetensors.h"
#include "image/decode.h"
#include "ipadapter/engine.h"
#include "models/unet/unet.h"
#include "models/vae/autoencoder_kl.h"
#include "ops/ops.h"
#include "test_support.h"

namespace ipa {
namespace {

constexpr double kModuleTol = 2e-2;
constexpr double kPipelineTol = 5e-2;
constexpr int kPixelTol = 8;

class Bf16Golden : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ops::cpu_has_bf16()) GTEST_SKIP() << "this CPU has no bf16 compute (avx512_bf16/AMX)";
  }

  void report(const std::string& what, double err, double tol) {
    RecordProperty(what, std::to_string(err));
    std::printf("[bf16] %-28s max rel error %.3e (tolerance %.0e)\n", what.c_str(), err, tol);
  }
};

TEST_F(Bf16Golden, UNetForward) {
  const TensorFile& g = test::load_golden("unet_sd15_ip");
  auto unet =
      unet::UNet2DConditionModel::load_dir(test::golden_path("unet_sd15_ip/unet"), Precision::BF16);
  unet::UNetInputs in;
  in.sample = test::golden_tensor(g, "latents");
  in.timestep = test::golden_tensor(g, "timestep");
  in.text = test::golden_tensor(g, "text_embeds");
  const Tensor expected = test::golden_tensor(g, "noise_pred_no_ip");
  const double err = test::max_rel_error(unet.forward(in), expected);
  report("unet_sd15 noise_pred", err, kModuleTol);
  EXPECT_LE(err, kModuleTol);
}

TEST_F(Bf16Golden, VaeDecode) {
  const TensorFile& g = test::load_golden("vae");
  const auto vae = vae::AutoencoderKL::load(test::golden_path("vae/vae"), Precision::BF16);
  const Tensor image = vae.decode(test::golden_tensor(g, "decode_input"));
  const double err = test::max_rel_error(image, test::golden_tensor(g, "decoded"));
  report("vae decode", err, kModuleTol);
  EXPECT_LE(err, kModuleTol);
}

TEST_F(Bf16Golden, PipelineSd15) {
  const auto c = test::load_case("pipeline_sd15");
  const TensorFile& g = test::load_golden("pipeline_sd15");
  const auto& kw = c["generate_kwargs"];
  EngineOptions eo;
  eo.base = test::golden_path("pipeline_sd15/sd15");
  eo.ip_adapters = {{test::golden_path("pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.bin"), ""}};
  eo.compute.precision = Precision::BF16;
  eo.one_shot = true;
  auto engine = Engine::load(eo);
  GenerateRequest r;
  r.prompt = kw["prompt"];
  r.negative_prompt = kw["negative_prompt"];
  r.image_prompts = {{{image::read_image(test::golden_path("pipeline_sd15/reference.png"))},
                      kw["scale"].get<float>()}};
  r.steps = kw["num_inference_steps"].get<int>();
  r.cfg = kw["guidance_scale"].get<float>();
  r.width = kw["width"].get<int>();
  r.height = kw["height"].get<int>();
  r.init_latents = test::float_array(test::golden_tensor(g, "init_latents"));
  const GenerateResult res = engine->generate(r);
  const double err =
      test::max_rel_error(test::tensor(res.final_latents), test::golden_tensor(g, "final_latents"));
  report("pipeline_sd15 final latents", err, kPipelineTol);
  EXPECT_LE(err, kPipelineTol);

  ASSERT_EQ(res.images.size(), 1u);
  const std::vector<float> e = test::golden_tensor(g, "image_u8").to_floats();
  ASSERT_EQ(res.images[0].rgb.size(), e.size());
  const int worst = test::max_pixel_diff(res.images[0].rgb, e);
  report("pipeline_sd15 pixels (of 255)", worst, kPixelTol);
  EXPECT_LE(worst, kPixelTol);
}

// Without bf16 hardware the setting itself is refused with a message that says why.
TEST(Bf16Precision, RefusedClearlyWithoutHardware) {
  if (ops::cpu_has_bf16()) GTEST_SKIP() << "this CPU has bf16 compute";
  const std::string msg = test::error_of([] { ops::require_precision(Precision::BF16); });
  EXPECT_TRUE(test::contains(msg, "bf16")) << msg;
  EngineOptions eo;
  eo.base = test::golden_path("pipeline_sd15/sd15");
  eo.compute.precision = Precision::BF16;
  EXPECT_TRUE(test::contains(test::error_of([&] { Engine::load(eo); }), "bf16"));
}

}  // namespace
}  // namespace ipa
