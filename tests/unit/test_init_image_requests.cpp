// img2img / inpainting requests: bad input is refused through the CLI with a message naming the
// option, before any model runs (no PNG written); a mask of another size and an all-black mask
// are warnings. And the SDXL inpainting path with a 9-channel UNet (no diffusers golden for
// it): with the extra input channels' weights at zero, a strength-1 inpainting run must give the
// txt2img latents of the same seed (diffusers draws the start noise first in both), and with a
// weight on the mask channel it must not.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "ipadapter/io.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace ipa {
namespace {

struct Sd15 {
  std::string base = test::golden_path("pipeline_sd15/sd15");
  std::string init = test::golden_path("inpaint_sd15/images/init.png");
  std::string mask = test::golden_path("inpaint_sd15/images/mask.png");
  std::string dir = test::temp_dir("init_image_requests");
  std::string out = dir + "/out.png";

  std::vector<std::string> args(std::vector<std::string> extra) const {
    std::vector<std::string> a = {"generate", "--base", base,    "--prompt", "x",
                                  "--steps",  "2",      "--out", out};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // Runs and expects a refusal containing `fragment`, with no image written.
  void refused(const std::vector<std::string>& extra, const std::string& fragment) const {
    fs::remove(out);
    std::string text;
    EXPECT_NE(test::run_cli(args(extra), &text), 0) << text;
    EXPECT_TRUE(test::contains(text, fragment)) << "'" << fragment << "' not in: " << text;
    EXPECT_FALSE(fs::exists(out)) << fragment;
  }
};

// A copy of `unet_dir` with `in_channels` 9: conv_in's first 4 input channels as they are, the
// mask channel's weights `mask_weight`, the masked-image channels' 0.
std::string nine_channel_unet(const std::string& unet_dir, const std::string& dir,
                              float mask_weight) {
  fs::create_directories(dir);
  nlohmann::json config;
  std::ifstream(unet_dir + "/config.json") >> config;
  const int64_t c_in = config["in_channels"].get<int64_t>();
  config["in_channels"] = 2 * c_in + 1;
  std::ofstream(dir + "/config.json") << config.dump(1);
  const TensorFile weights = load_tensor_file(unet_dir + "/diffusion_pytorch_model.safetensors");
  std::vector<NamedTensor> out;
  for (const auto& t : weights.tensors) {
    if (t.name != "conv_in.weight") {
      out.push_back({t.name, Tensor::from_vector(t.tensor.shape(), t.tensor.to_floats())});
      continue;
    }
    const Shape s = t.tensor.shape();  // [C_out, c_in, k, k]
    const int64_t k2 = s[2] * s[3], c_new = 2 * c_in + 1;
    const std::vector<float> w = t.tensor.to_floats();
    std::vector<float> w9(static_cast<size_t>(s[0] * c_new * k2), 0.f);
    for (int64_t o = 0; o < s[0]; ++o) {
      for (int64_t i = 0; i < c_new; ++i) {
        for (int64_t p = 0; p < k2; ++p) {
          const float v = i < c_in ? w[static_cast<size_t>((o * c_in + i) * k2 + p)]
                                   : (i == c_in ? mask_weight : 0.f);
          w9[static_cast<size_t>((o * c_new + i) * k2 + p)] = v;
        }
      }
    }
    out.push_back({t.name, Tensor::from_vector({s[0], c_new, s[2], s[3]}, w9)});
  }
  write_safetensors(dir + "/diffusion_pytorch_model.safetensors", out);
  return dir;
}

TEST(InitImageRequests, BadInputIsRefusedNamingTheOption) {
  Sd15 x;
  x.refused({"--init-image", x.dir + "/missing.png"}, "missing.png");
  x.refused({"--init-image", x.init, "--strength", "1.5"},
            "strength (--strength): must be in (0, 1]");
  x.refused({"--init-image", x.init, "--strength", "0"},
            "strength (--strength): must be in (0, 1]");
  x.refused({"--strength", "0.5"}, "applies to img2img and inpainting (--init-image)");
  x.refused({"--mask", x.mask}, "inpainting needs the image to repaint (--init-image)");
  x.refused({"--init-image", x.init, "--mask-blur", "4"}, "applies to inpainting only (--mask)");
  x.refused({"--init-image", x.init, "--strength", "0.1"}, "leaves no step to run");
  x.refused({"--init-image", x.init, "--mask", x.mask, "--mask-blur", "-1"},
            "mask_blur (--mask-blur)");
  x.refused({"--control-image", x.init}, "--control-image needs a ControlNet (--controlnet)");
  // A 9-channel UNet without a mask; an SDXL UNet on the SD1.5 base.
  const std::string unet9 = test::golden_path("inpaint_sd15/unet_inpaint");
  x.refused({"--unet", unet9}, "give the image to repaint (--init-image) and the mask (--mask)");
  x.refused({"--unet", unet9, "--init-image", x.init},
            "give the image to repaint (--init-image) and the mask (--mask)");
  x.refused({"--unet", test::golden_path("pipeline_sdxl/sdxl/unet")},
            "--unet: addition_embed_type");
}

TEST(InitImageRequests, MaskWarnings) {
  Sd15 x;
  // An all-black mask: a warning (nothing is repainted), and the image is made.
  const std::string black = x.dir + "/black.png";
  write_png(black, image::Image(8, 8));  // 8x8 zeros: a mask of another size, all black
  std::string text;
  ASSERT_EQ(test::run_cli(x.args({"--init-image", x.init, "--mask", black}), &text), 0) << text;
  EXPECT_TRUE(test::contains(text, "mask is 8x8")) << text;
  EXPECT_TRUE(test::contains(text, "all black")) << text;
  EXPECT_TRUE(fs::exists(x.out));
  x.refused({"--init-image", x.init, "--mask", black, "--padding-mask-crop", "4"},
            "the mask is all black");
}

TEST(InitImageRequests, SdxlNineChannelUnetUsesTheInpaintingInputs) {
  const std::string base = test::golden_path("pipeline_sdxl/sdxl");
  const std::string dir = test::temp_dir("sdxl_unet9");
  const std::string init = test::golden_path("inpaint_sdxl/images/init.png");
  const std::string mask = test::golden_path("inpaint_sdxl/images/mask.png");
  const nlohmann::json call = test::load_case("inpaint_sdxl")["call"];
  const std::string w = std::to_string(call["width"].get<int>());
  const std::string h = std::to_string(call["height"].get<int>());
  auto final_latents = [&](std::vector<std::string> extra, const std::string& name) {
    std::vector<std::string> a = {"generate",
                                  "--base",
                                  base,
                                  "--prompt",
                                  "a cabin",
                                  "--steps",
                                  "3",
                                  "--seed",
                                  "11",
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
    const Tensor* t = f.find("final_latents");
    return t ? Tensor::from_vector(t->shape(), t->to_floats()) : Tensor();
  };
  const std::string unet = test::golden_path("pipeline_sdxl/sdxl/unet");
  const Tensor txt2img = final_latents({}, "txt2img");
  const std::vector<std::string> inpaint = {"--init-image", init,         "--mask",
                                            mask,           "--strength", "1"};
  std::vector<std::string> zero = inpaint, weighted = inpaint;
  zero.insert(zero.end(), {"--unet", nine_channel_unet(unet, dir + "/unet9_zero", 0.f)});
  weighted.insert(weighted.end(), {"--unet", nine_channel_unet(unet, dir + "/unet9_mask", 0.5f)});
  // Zero weights on the extra channels: the same UNet, the same start noise (oneDNN may sum the
  // wider convolution in another order: 1e-5).
  EXPECT_TRUE(test::AllCloseRel(final_latents(zero, "zero"), txt2img, 1e-5));
  // A weight on the mask channel: the mask reaches the UNet.
  EXPECT_GT(test::max_rel_error(final_latents(weighted, "weighted"), txt2img), 1e-3);
}

}  // namespace
}  // namespace ipa
