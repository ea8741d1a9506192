// The ControlNet stage of the pipeline (no diffusers golden for these settings): the step
// window, several ControlNets summing, guess mode's batch halves, and bad requests refused
// before any model runs, naming the option. The tiny ControlNet of the controlnet_sd15 case.
#include <gtest/gtest.h>

#include <filesystem>

#include "formats/safetensors.h"
#include "image/vae_image.h"
#include "ops/ops.h"
#include "pipeline/control_stage.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace ipa {
namespace {

struct Sd15Control {
  std::string base = test::golden_path("pipeline_sd15/sd15");
  std::string controlnet = test::golden_path("controlnet_sd15/controlnet");
  std::string image = test::golden_path("controlnet_sd15/images/control.png");
  std::string dir = test::temp_dir("control_stage");
  nlohmann::json call = test::load_case("controlnet_sd15")["call"];
  std::string w = std::to_string(call["width"].get<int>());
  std::string h = std::to_string(call["height"].get<int>());

  // Runs the CLI (4 steps, fixed seed) and returns the latents after every step.
  std::vector<Tensor> steps(const std::vector<std::string>& extra, const std::string& name) const {
    std::vector<std::string> a = {"generate",
                                  "--base",
                                  base,
                                  "--prompt",
                                  "a fox",
                                  "--steps",
                                  "4",
                                  "--seed",
                                  "5",
                                  "--width",
                                  w,
                                  "--height",
                                  h,
                                  "--dump-latents",
                                  dir + "/" + name + ".safetensors",
                                  "--out",
                                  dir + "/" + name + ".png"};
    a.insert(a.end(), extra.begin(), extra.end());
    std::string text;
    EXPECT_EQ(test::run_cli(a, &text), 0) << text;
    const TensorFile f = read_safetensors(dir + "/" + name + ".safetensors");
    std::vector<Tensor> out;
    for (int i = 0;; ++i) {
      const Tensor* t = f.find("step_" + std::to_string(i));
      if (!t) break;
      out.push_back(Tensor::from_vector(t->shape(), t->to_floats()));
    }
    return out;
  }
};

TEST(ControlStage, WindowLeavesTheStepsOutsideItUntouched) {
  Sd15Control x;
  const auto plain = x.steps({}, "plain");
  // Active when i/4 >= 0.5 and (i+1)/4 <= 1: steps 2 and 3 only.
  const auto windowed = x.steps({"--controlnet", x.controlnet, "--control-image", x.image,
                                 "--control-start", "0.5", "--control-end", "1"},
                                "windowed");
  ASSERT_EQ(plain.size(), 4u);
  ASSERT_EQ(windowed.size(), 4u);
  EXPECT_TRUE(test::AllCloseAbs(windowed[0], plain[0], 0.0));
  EXPECT_TRUE(test::AllCloseAbs(windowed[1], plain[1], 0.0));
  EXPECT_GT(test::max_rel_error(windowed[2], plain[2]), 1e-4);
}

TEST(ControlStage, SeveralControlNetsSumTheirResiduals) {
  Sd15Control x;
  // Residuals are linear in the scale: two copies at 0.3 each = one at 0.6.
  const auto one = x.steps(
      {"--controlnet", x.controlnet, "--control-image", x.image, "--control-scale", "0.6"}, "one");
  const auto two =
      x.steps({"--controlnet", x.controlnet, "--control-image", x.image, "--controlnet",
               x.controlnet, "--control-image", x.image, "--control-scale", "0.3"},
              "two");
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_TRUE(test::AllCloseRel(two[i], one[i], 1e-5)) << "step " << i;
  }
}

TEST(ControlStage, GuessModeControlsOnlyTheConditionalHalf) {
  Sd15Control x;
  const unet::UNetConfig unet_config = unet::load_unet_config(x.base + "/unet/config.json");
  ControlStage stage({{x.controlnet, ""}}, unet_config, ModelFamily::SD15, Precision::F32, "", {});
  const int wi = std::stoi(x.w), hi = std::stoi(x.h);
  ControlImage ci;
  ci.image = image::Image(wi, hi);
  for (size_t i = 0; i < ci.image.rgb.size(); ++i) ci.image.rgb[i] = static_cast<uint8_t>(i * 7);
  ci.scale = 0.8f;
  DenoiseHooks hooks;
  stage.add_hook({ci}, wi, hi, 1, /*guidance=*/true, /*guess_mode=*/true, 0, 4, &hooks);
  ASSERT_EQ(hooks.before_unet.size(), 1u);

  const int64_t f = 8, c = unet_config.out_channels;
  unet::UNetInputs in;
  in.sample = test::random_tensor({2, c, hi / f, wi / f}, 1);
  in.timestep = Tensor::from_vector({1}, {500.f});
  in.text = test::random_tensor({2, 77, unet_config.cross_attention_dim}, 2);
  hooks.before_unet[0](0, in);

  // Reference: the model on the conditional half only, guess-mode ramp, zeros for the rest.
  const auto model = controlnet::ControlNetModel::load_dir(x.controlnet);
  controlnet::ControlNetInputs ref;
  ref.sample = ops::slice(in.sample, 0, 1, 2);
  ref.timestep = in.timestep;
  ref.text = ops::slice(in.text, 0, 1, 2);
  ref.image = image::unit_pixels(ci.image, wi, hi);
  ref.conditioning_scale = ci.scale;
  ref.guess_mode = true;
  const controlnet::ControlNetOutput expected = model.forward(ref);
  ASSERT_EQ(in.down_residuals.size(), expected.down_residuals.size());
  for (size_t k = 0; k < expected.down_residuals.size(); ++k) {
    const Tensor& r = in.down_residuals[k];
    ASSERT_EQ(r.size(0), 2);
    EXPECT_TRUE(test::AllCloseAbs(ops::slice(r, 0, 0, 1),
                                  Tensor::zeros(expected.down_residuals[k].shape()), 0.0));
    EXPECT_TRUE(test::AllCloseRel(ops::slice(r, 0, 1, 2), expected.down_residuals[k], 1e-6));
  }
  EXPECT_TRUE(test::AllCloseRel(ops::slice(in.mid_residual, 0, 1, 2), expected.mid_residual, 1e-6));
}

TEST(ControlStage, WorksWithImg2ImgAndAnInpaintingUnet) {
  Sd15Control x;
  // The ControlNet reads the 4-channel latents even when the UNet takes 9 (it would refuse
  // the wider input), with img2img's shortened schedule.
  const std::string init = test::golden_path("inpaint_sd15/images/init.png");
  const auto inpaint = x.steps({"--controlnet", x.controlnet, "--control-image", x.image, "--unet",
                                test::golden_path("inpaint_sd15/unet_inpaint"), "--init-image",
                                init, "--mask", test::golden_path("inpaint_sd15/images/mask.png")},
                               "inpaint");
  EXPECT_EQ(inpaint.size(), 4u);
  const auto img2img = x.steps({"--controlnet", x.controlnet, "--control-image", x.image,
                                "--init-image", init, "--strength", "0.5"},
                               "img2img");
  EXPECT_EQ(img2img.size(), 2u);
}

TEST(ControlStage, BadRequestsAreRefusedNamingTheOption) {
  Sd15Control x;
  auto refused = [&](const std::vector<std::string>& extra, const std::string& fragment) {
    const std::string out = x.dir + "/bad.png";
    fs::remove(out);
    std::vector<std::string> a = {"generate", "--base", x.base,  "--prompt", "x",
                                  "--steps",  "1",      "--out", out};
    a.insert(a.end(), extra.begin(), extra.end());
    std::string text;
    EXPECT_NE(test::run_cli(a, &text), 0) << text;
    EXPECT_TRUE(test::contains(text, fragment)) << "'" << fragment << "' not in: " << text;
    EXPECT_FALSE(fs::exists(out));
  };
  refused({"--controlnet", x.controlnet}, "--controlnet needs its control image");
  refused({"--controlnet", x.controlnet, "--control-image", x.image, "--control-image", x.image},
          "--control-image: 2 given for 1 --controlnet");
  refused({"--controlnet", x.controlnet, "--control-image", x.image, "--control-start", "0.6",
           "--control-end", "0.4"},
          "must satisfy 0 <= start < end <= 1");
  refused({"--controlnet", x.controlnet, "--control-image", x.image, "--control-scale", "1",
           "--control-scale", "2"},
          "--control-scale: 2 values for 1 ControlNets");
  refused({"--controlnet", x.dir + "/none", "--control-image", x.image}, "no such file or folder");
  // The SDXL case's ControlNet on the SD1.5 base: another family, named with both.
  refused(
      {"--controlnet", test::golden_path("controlnet_sdxl/controlnet"), "--control-image", x.image},
      "it is for another model family");
}

}  // namespace
}  // namespace ipa
