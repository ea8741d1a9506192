// ControlNet + IP-Adapter generation against diffusers 0.30.3's StableDiffusionControlNetPipeline
// and StableDiffusionXLControlNetPipeline with its own load_ip_adapter (cases controlnet_sd15,
// controlnet_sdxl), through `ipadapter generate --controlnet ... --control-image ...`: the
// control image prepared as diffusers' control_image_processor does (exactly), then every
// step's latents within 1e-3 · max|expected| and the PNG within ±1 (the pipeline tolerance,
// as the other end-to-end goldens). Every setting comes from the case JSON.
#include <gtest/gtest.h>

#include "formats/safetensors.h"
#include "image/decode.h"
#include "image/vae_image.h"
#include "ops/ops.h"
#include "test_support.h"

namespace ipa {
namespace {

std::string fmt(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

void run_case(const std::string& name) {
  const nlohmann::json c = test::load_case(name);
  const TensorFile& g = test::load_golden(name);
  const auto& call = c["call"];
  const bool xl = c["folders"].contains("../pipeline_sdxl/sdxl");
  auto path = [&](const std::string& rel) { return test::golden_path(name + "/" + rel); };
  const auto& folders = c["folders"];
  const std::string adapter =
      path((folders.contains("IP-Adapter/models") ? folders["IP-Adapter/models"]
                                                  : folders["IP-Adapter/sdxl_models"])[0]
               .get<std::string>());

  // The control image as the pipeline prepares it (one row of the CFG batch).
  const Tensor expected_control = test::golden_tensor(g, "control_image");
  const int h = static_cast<int>(expected_control.size(2));
  const int w = static_cast<int>(expected_control.size(3));
  const image::Image control = image::read_image(path(call["image"].get<std::string>()));
  EXPECT_TRUE(
      test::AllCloseAbs(image::unit_pixels(control, w, h), expected_control.narrow(0, 0, 1), 0.0));

  const std::string dir = test::temp_dir(name);
  const std::string init = dir + "/init.safetensors";
  write_safetensors(init, {{"latents", test::golden_tensor(g, "init_latents")}});
  std::vector<std::string> args = {
      "generate",
      "--base",
      test::golden_path(xl ? "pipeline_sdxl/sdxl" : "pipeline_sd15/sd15"),
      "--ip-adapter",
      adapter,
      "--image",
      path(call["ip_adapter_image"].get<std::string>()),
      "--scale",
      fmt(call["set_ip_adapter_scale"]),
      "--prompt",
      call["prompt"].get<std::string>(),
      "--negative-prompt",
      call["negative_prompt"].get<std::string>(),
      "--steps",
      fmt(call["num_inference_steps"]),
      "--cfg",
      fmt(call["guidance_scale"]),
      "--width",
      std::to_string(w),
      "--height",
      std::to_string(h),
      "--init-latents",
      init,
      "--controlnet",
      path("controlnet"),
      "--control-image",
      path(call["image"].get<std::string>()),
      "--control-scale",
      fmt(call["controlnet_conditioning_scale"]),
      "--control-start",
      fmt(call["control_guidance_start"]),
      "--control-end",
      fmt(call["control_guidance_end"]),
      "--dump-latents",
      dir + "/latents.safetensors",
      "--out",
      dir + "/out.png"};
  if (call["guess_mode"].get<bool>()) args.push_back("--guess-mode");
  std::string out;
  ASSERT_EQ(test::run_cli(args, &out), 0) << out;
  const TensorFile dumped = read_safetensors(dir + "/latents.safetensors");
  const Tensor steps = test::golden_tensor(g, "step_latents");
  for (int64_t i = 0; i < steps.size(0); ++i) {
    const Tensor* got = dumped.find("step_" + std::to_string(i));
    ASSERT_NE(got, nullptr) << "step " << i;
    EXPECT_TRUE(test::AllCloseRel(*got, steps.select(0, i), 1e-3)) << "step " << i;
  }
  const image::Image img = image::read_image(dir + "/out.png");
  const Tensor expected = test::golden_tensor(g, "image_u8");
  ASSERT_EQ(img.height, expected.size(0));
  ASSERT_EQ(img.width, expected.size(1));
  const std::vector<float> e = expected.to_floats();
  int worst = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<int>(img.rgb[i]) - static_cast<int>(e[i])));
  }
  EXPECT_LE(worst, 1);
  EXPECT_TRUE(test::contains(out, "controlnet: ")) << out;
}

TEST(GoldenControlNetPipeline, Sd15ThroughCli) {
  run_case("controlnet_sd15");
}
TEST(GoldenControlNetPipeline, SdxlThroughCli) {
  run_case("controlnet_sdxl");
}

}  // namespace
}  // namespace ipa
