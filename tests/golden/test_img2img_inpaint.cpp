// img2img and inpainting against diffusers 0.30.3 (StableDiffusion[XL]Img2ImgPipeline,
// StableDiffusion[XL]InpaintPipeline with its own load_ip_adapter), cases img2img_sd15,
// inpaint_sd15 (sub-runs unet9: a 9-channel inpainting UNet given with --unet; legacy4: the
// base's 4-channel UNet with latent blending), img2img_sdxl and inpaint_sdxl. Every setting is
// read from the case JSON. Through `ipadapter generate` with --seed: the latents after every
// step that runs within 1e-3 · max|expected| and the PNG within ±1 (the pipeline tolerance:
// module errors of ~1e-6 compound over the steps and through the VAE encode). The image
// preparation (init pixels, binarised mask, masked image, latent mask) is checked on its own,
// exactly or within float rounding (1e-6).
#include <gtest/gtest.h>

#include <regex>

#include "formats/safetensors.h"
#include "image/decode.h"
#include "ipadapter/request.h"
#include "ops/ops.h"
#include "pipeline/init_latents.h"
#include "test_support.h"

namespace ipa {
namespace {

// "torch.Generator().manual_seed(1234)" → 1234
std::string seed_of(const nlohmann::json& call) {
  std::smatch m;
  const std::string s = call["generator"].get<std::string>();
  EXPECT_TRUE(std::regex_search(s, m, std::regex(R"(manual_seed\((\d+)\))"))) << s;
  return m.size() > 1 ? m[1].str() : "0";
}

std::string fmt(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

struct Case {
  std::string name;
  nlohmann::json c = test::load_case(name);
  const TensorFile& g = test::load_golden(name);
  std::string dir = test::temp_dir(name);

  explicit Case(std::string n) : name(std::move(n)) {}
  std::string path(const std::string& rel) const { return test::golden_path(name + "/" + rel); }
  bool xl() const { return c["folders"].contains("../pipeline_sdxl/sdxl"); }
  std::string base() const {
    return test::golden_path(xl() ? "pipeline_sdxl/sdxl" : "pipeline_sd15/sd15");
  }
  // The adapter file the case loaded (the first file listed in its IP-Adapter folder).
  std::string adapter() const {
    const auto& folders = c["folders"];
    const auto& files = folders.contains("IP-Adapter/models") ? folders["IP-Adapter/models"]
                                                              : folders["IP-Adapter/sdxl_models"];
    return path(files[0].get<std::string>());
  }
  Tensor tensor(const std::string& key) const { return test::golden_tensor(g, key); }

  // The CLI arguments of a diffusers call (prompts, steps, CFG, strength, images, seed, size).
  std::vector<std::string> args(const nlohmann::json& call, const std::string& run) const {
    std::vector<std::string> a = {"generate",
                                  "--base",
                                  base(),
                                  "--ip-adapter",
                                  adapter(),
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
                                  "--strength",
                                  fmt(call["strength"]),
                                  "--init-image",
                                  path(call["image"].get<std::string>()),
                                  "--seed",
                                  seed_of(call),
                                  "--dump-latents",
                                  dir + "/" + run + ".safetensors",
                                  "--out",
                                  dir + "/" + run + ".png"};
    if (call.contains("mask_image")) {
      a.insert(a.end(), {"--mask", path(call["mask_image"].get<std::string>())});
    }
    if (call.contains("width")) a.insert(a.end(), {"--width", fmt(call["width"])});
    if (call.contains("height")) a.insert(a.end(), {"--height", fmt(call["height"])});
    return a;
  }

  // Runs the CLI and compares every step's latents and the PNG with `prefix` + the golden's.
  void check(std::vector<std::string> args, const std::string& run,
             const std::string& prefix) const {
    std::string out;
    ASSERT_EQ(test::run_cli(args, &out), 0) << out;
    const TensorFile dumped = read_safetensors(dir + "/" + run + ".safetensors");
    const Tensor steps = tensor(prefix + "step_latents");
    ASSERT_EQ(tensor(prefix + "timesteps").size(0), steps.size(0));
    for (int64_t i = 0; i < steps.size(0); ++i) {
      const Tensor* got = dumped.find("step_" + std::to_string(i));
      ASSERT_NE(got, nullptr) << "step " << i;
      EXPECT_TRUE(test::AllCloseRel(*got, steps.select(0, i), 1e-3)) << "step " << i;
    }
    EXPECT_EQ(dumped.find("step_" + std::to_string(steps.size(0))), nullptr)
        << "only the steps that run are dumped";
    const image::Image img = image::read_image(dir + "/" + run + ".png");
    const Tensor expected = tensor(prefix + "image_u8");
    ASSERT_EQ(img.height, expected.size(0));
    ASSERT_EQ(img.width, expected.size(1));
    const std::vector<float> e = expected.to_floats();
    int worst = 0;
    for (size_t i = 0; i < e.size(); ++i) {
      worst = std::max(worst, std::abs(static_cast<int>(img.rgb[i]) - static_cast<int>(e[i])));
    }
    EXPECT_LE(worst, 1);
  }

  // The images the pipeline prepares, against the golden's (before any model). `init_image` is
  // the golden's first VAE input: the init image where it is encoded, else (a 9-channel UNet
  // starting from pure noise) the masked image.
  void check_images(const nlohmann::json& call, const std::string& prefix,
                    bool init_encoded = true) const {
    GenerateRequest r;
    r.init_image = image::read_image(path(call["image"].get<std::string>()));
    const bool inpaint = call.contains("mask_image");
    if (inpaint) r.mask = image::read_image(path(call["mask_image"].get<std::string>()));
    const Tensor init = tensor(prefix + "init_image");
    const int h = static_cast<int>(init.size(2)), w = static_cast<int>(init.size(3));
    const InitImages images =
        prepare_init_images(r, inpaint ? Task::Inpaint : Task::Img2Img, w, h, nullptr);
    EXPECT_TRUE(
        test::AllCloseAbs(init_encoded ? images.pixels : images.masked_pixels, init, 1e-6));
    if (!inpaint) return;
    EXPECT_TRUE(test::AllCloseAbs(images.mask, tensor(prefix + "mask_condition"), 0.0));
    EXPECT_TRUE(test::AllCloseAbs(images.masked_pixels, tensor(prefix + "masked_image"), 1e-6));
    const Tensor ml = tensor(prefix + "mask_latent");
    const Tensor down = ops::interpolate(images.mask, ml.size(2), ml.size(3), ops::Interp::Nearest);
    EXPECT_TRUE(test::AllCloseAbs(down, ml.narrow(0, 0, 1), 0.0));
  }
};

TEST(GoldenImg2Img, Sd15ThroughCli) {
  Case x("img2img_sd15");
  x.check_images(x.c["call"], "");
  x.check(x.args(x.c["call"], "img2img"), "img2img", "");
}

TEST(GoldenImg2Img, SdxlThroughCli) {
  Case x("img2img_sdxl");
  x.check_images(x.c["call"], "");
  x.check(x.args(x.c["call"], "img2img"), "img2img", "");
}

TEST(GoldenInpaint, Sd15NineChannelUnet) {
  Case x("inpaint_sd15");
  const auto& run = x.c["runs"]["unet9"];
  x.check_images(run["call"], "unet9.", /*init_encoded=*/false);
  std::vector<std::string> a = x.args(run["call"], "unet9");
  a.insert(a.end(), {"--unet", x.path("unet_inpaint")});
  x.check(a, "unet9", "unet9.");
}

TEST(GoldenInpaint, Sd15LegacyBlend) {
  Case x("inpaint_sd15");
  const auto& run = x.c["runs"]["legacy4"];
  x.check_images(run["call"], "legacy4.");
  x.check(x.args(run["call"], "legacy4"), "legacy4", "legacy4.");
}

TEST(GoldenInpaint, SdxlLegacyBlend) {
  Case x("inpaint_sdxl");
  x.check_images(x.c["call"], "legacy4.");
  x.check(x.args(x.c["call"], "legacy4"), "legacy4", "legacy4.");
}

}  // namespace
}  // namespace ipa
