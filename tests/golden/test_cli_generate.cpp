// `ipadapter generate` reproduces the pipeline_sd15 and pipeline_sdxl cases through the CLI:
// the reference's fixed initial latents go in with --init-latents, every step's latents come
// back with --dump-latents. Tolerances (issue contract): latents after each step and at the end
// ≤ 1e-3·max|expected| (errors of ~1e-6 per module compound over the CFG steps, and the random
// model drives latents to std ≈ 7); PNG pixels within ±1 of image_u8.
#include <gtest/gtest.h>
#include <png.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "image/decode.h"
#include "ops/ops.h"
#include "pipeline/base_model.h"
#include "test_support.h"

namespace ipa {
namespace {

// Pixels per latent of a base folder's VAE: 2^(blocks - 1), from its config.
int vae_factor(const std::string& base) {
  const nlohmann::json vae = nlohmann::json::parse(std::ifstream(base + "/vae/config.json"));
  return 1 << (static_cast<int>(vae.at("block_out_channels").size()) - 1);
}

// Runs `generate` for a pipeline case (its generate_kwargs, its fixed initial latents) with
// each adapter file and compares every step's latents and the PNG with the golden. `models`
// are the flags naming the base model (--base, and --config / --vae where a test needs them).
void check_generate_case(const std::string& name, const std::vector<std::string>& models,
                         const std::string& adapter_dir,
                         const std::vector<std::string>& adapter_files) {
  const auto c = test::load_case(name);
  const TensorFile& g = test::load_golden(name);
  const auto& kw = c["generate_kwargs"];
  const std::string dir = test::temp_dir("generate_" + name);
  const std::string init = dir + "/init.safetensors", dump = dir + "/latents.safetensors",
                    png = dir + "/out.png";
  write_safetensors(init, {{"latents", test::golden_tensor(g, "init_latents")}});
  ASSERT_FALSE(adapter_files.empty());
  for (const std::string& adapter : adapter_files) {
    SCOPED_TRACE(adapter);
    std::string out;
    std::vector<std::string> args = {"generate"};
    args.insert(args.end(), models.begin(), models.end());
    const std::vector<std::string> rest = {"--ip-adapter",
                                           test::golden_path(adapter_dir + "/" + adapter),
                                           "--image",
                                           test::golden_path(name + "/reference.png"),
                                           "--prompt",
                                           kw["prompt"],
                                           "--negative-prompt",
                                           kw["negative_prompt"],
                                           "--scale",
                                           std::to_string(kw["scale"].get<double>()),
                                           "--steps",
                                           std::to_string(kw["num_inference_steps"].get<int>()),
                                           "--cfg",
                                           std::to_string(kw["guidance_scale"].get<double>()),
                                           "--width",
                                           std::to_string(kw["width"].get<int>()),
                                           "--height",
                                           std::to_string(kw["height"].get<int>()),
                                           "--init-latents",
                                           init,
                                           "--dump-latents",
                                           dump,
                                           "--out",
                                           png};
    args.insert(args.end(), rest.begin(), rest.end());
    const int rc = test::run_cli(args, &out);
    ASSERT_EQ(rc, 0) << out;
    // The image encoder was found beside the adapter (h94 layout), not passed.
    EXPECT_NE(out.find("image encoder:"), std::string::npos) << out;
    EXPECT_NE(out.find("peak memory (RSS)"), std::string::npos) << out;
    const TensorFile dumped = read_safetensors(dump);
    const Tensor steps = test::golden_tensor(g, "step_latents");
    ASSERT_GT(steps.size(0), 0);
    for (int64_t i = 0; i < steps.size(0); ++i) {
      const Tensor* got = dumped.find("step_" + std::to_string(i));
      ASSERT_NE(got, nullptr) << "step " << i;
      EXPECT_TRUE(test::AllCloseRel(*got, steps.select(0, i), 1e-3)) << "step " << i;
    }
    EXPECT_EQ(dumped.find("step_" + std::to_string(steps.size(0))), nullptr);
    ASSERT_NE(dumped.find("final_latents"), nullptr);
    EXPECT_TRUE(test::AllCloseRel(*dumped.find("final_latents"),
                                  test::golden_tensor(g, "final_latents"), 1e-3));

    const image::Image img = image::read_image(png);
    const Tensor expected = test::golden_tensor(g, "image_u8");
    ASSERT_EQ(img.height, expected.size(0));
    ASSERT_EQ(img.width, expected.size(1));
    const std::vector<float> e = expected.to_floats();
    int worst = 0;
    for (size_t i = 0; i < e.size(); ++i) {
      worst = std::max(worst, std::abs(static_cast<int>(img.rgb[i]) - static_cast<int>(e[i])));
    }
    EXPECT_LE(worst, 1);
  }
}

TEST(GoldenCliGenerate, PipelineSd15) {
  check_generate_case("pipeline_sd15", {"--base", test::golden_path("pipeline_sd15/sd15")},
                      "pipeline_sd15/IP-Adapter/models",
                      {"ip-adapter_sd15.bin", "ip-adapter_sd15.safetensors"});
}

// tencent-ailab's IPAdapterXL on diffusers' StableDiffusionXLPipeline: two text encoders,
// pooled embeddings, time ids, the ViT-bigG-like encoder found by width.
TEST(GoldenCliGenerate, PipelineSdxl) {
  check_generate_case("pipeline_sdxl", {"--base", test::golden_path("pipeline_sdxl/sdxl")},
                      "pipeline_sdxl/IP-Adapter/sdxl_models",
                      {"ip-adapter_sdxl.bin", "ip-adapter_sdxl.safetensors"});
}

// The pipeline case's models converted to one original-layout file (each of the case's
// files: F32 .safetensors, F16 .ckpt in a {'state_dict': ...} wrapper, SGM F16 .safetensors)
// must give that pipeline case's goldens, read with the case's config folder as
// from_single_file(config=...) was.
void check_single_file_case(const std::string& name, const std::string& pipeline_case,
                            const std::string& adapter_dir, const std::string& adapter) {
  const nlohmann::json c = test::load_case(name);
  const std::string config = test::golden_path(test::single_file_config(c));
  ASSERT_FALSE(c.at("files").empty());
  for (const auto& [file, what] : c.at("files").items()) {
    SCOPED_TRACE(file);
    check_generate_case(pipeline_case,
                        {"--base", test::golden_path(name + "/" + file), "--config", config},
                        adapter_dir, {adapter});
  }
}

TEST(GoldenCliGenerate, SingleFileSd15) {
  check_single_file_case("single_file_sd15", "pipeline_sd15", "pipeline_sd15/IP-Adapter/models",
                         "ip-adapter_sd15.safetensors");
}

TEST(GoldenCliGenerate, SingleFileSdxl) {
  check_single_file_case("single_file_sdxl", "pipeline_sdxl",
                         "pipeline_sdxl/IP-Adapter/sdxl_models", "ip-adapter_sdxl.safetensors");
}

// --vae replaces the folder's VAE: with the same VAE as a diffusers folder, or as the
// first_stage_model.* of the single-file checkpoint, the goldens still hold.
TEST(GoldenCliGenerate, VaeOverride) {
  const std::string base = test::golden_path("pipeline_sd15/sd15");
  for (const std::string& vae : {test::golden_path("pipeline_sd15/sd15/vae"),
                                 test::golden_path("single_file_sd15/tiny-sd15.safetensors")}) {
    SCOPED_TRACE(vae);
    check_generate_case("pipeline_sd15", {"--base", base, "--vae", vae},
                        "pipeline_sd15/IP-Adapter/models", {"ip-adapter_sd15.safetensors"});
  }
}

// A single file read with a config of other sizes (here the built-in full-size one, as when
// --config is left out for the tiny model) is refused at load, naming the file, the config,
// the file's key, the expected and the actual shape.
TEST(CliGenerate, SingleFileWithAnotherConfigIsRefused) {
  const std::string file = test::golden_path("single_file_sd15/tiny-sd15.safetensors");
  const std::string key = "model.diffusion_model.input_blocks.0.0.weight";
  const TensorFile checkpoint = load_tensor_file(file);
  const Tensor* conv_in = checkpoint.find(key);
  ASSERT_NE(conv_in, nullptr);
  const nlohmann::json full = nlohmann::json::parse(
      std::ifstream(std::string(IPA_SOURCE_DIR) + "/configs/sd15/unet/config.json"));
  Shape expected = conv_in->shape();
  expected[0] = full.at("block_out_channels").at(0).get<int64_t>();
  if (expected == conv_in->shape()) GTEST_SKIP() << "this model has the full-size conv_in";
  // The UNet, as the engine opens it.
  const std::string message =
      test::error_of([&] { open_base_unet(open_base_model(file), DType::F32); });
  EXPECT_TRUE(test::contains(message, file)) << message;
  EXPECT_TRUE(test::contains(message, "built-in configs/sd15/unet/config.json")) << message;
  EXPECT_TRUE(test::contains(message, "tensor '" + key + "': expected shape " +
                                          shape_str(expected) + ", got " +
                                          shape_str(conv_in->shape())))
      << message;
  // Through the CLI the first model opened (a text encoder) is the one refused, the same way.
  std::string text;
  EXPECT_NE(test::run_cli({"generate", "--base", file, "--prompt", "x", "--steps", "1", "--out",
                           test::temp_dir("single_file_bad") + "/x.png"},
                          &text),
            0);
  EXPECT_TRUE(test::contains(text, file + " (read with the config built-in configs/sd15/")) << text;
  EXPECT_TRUE(test::contains(text, "expected shape")) << text;
}

TEST(CliGenerate, BadRequestsGiveClearErrors) {
  // A valid size for this model: the case's own.
  const nlohmann::json kw = test::load_case("pipeline_sd15").at("generate_kwargs");
  const std::string width = std::to_string(kw["width"].get<int>());
  const std::string height = std::to_string(kw["height"].get<int>());
  const std::string base = test::golden_path("pipeline_sd15/sd15");
  const std::string adapter =
      test::golden_path("pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.bin");
  const std::string image = test::golden_path("pipeline_sd15/reference.png");
  const std::string out = test::temp_dir("generate_bad") + "/x.png";
  struct Case {
    std::vector<std::string> extra;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {{"--width", "60"}, "width: must be 0 (the model's default) or a positive multiple of 8"},
      {{"--base", "/nonexistent"}, "/nonexistent: base model folder not found"},
      {{"--image", "/nonexistent.png"}, "/nonexistent.png"},
      {{"--sampler", "nope"}, "unknown sampler 'nope'"},
      {{"--image-prep", "zoom"}, "--image-prep: zoom not in {crop,squash}"},
      {{"--precision", "fp16"}, "--precision: fp16 not in {f32,bf16,auto}"},
      {{"--original-size", "1024"}, "--original-size must be WIDTHxHEIGHT"},
      {{"--crop-top-left", "a,b"}, "--crop-top-left must be TOP,LEFT"},
      {{"--config", base}, "--config (base_config) describes a single-file checkpoint"},
      {{"--vae", "/nonexistent"}, "--vae: no such file or folder"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {
        "generate", "--base",   base,   "--ip-adapter", adapter, "--image",
        image,      "--prompt", "x",    "--steps",      "1",     "--width",
        width,      "--height", height, "--out",        out};
    for (size_t i = 0; i + 1 < c.extra.size(); i += 2) {
      auto it = std::find(args.begin(), args.end(), c.extra[i]);
      if (it != args.end() && c.extra[i] != "--image") {
        *(it + 1) = c.extra[i + 1];
      } else if (c.extra[i] == "--image") {
        *(std::find(args.begin(), args.end(), image)) = c.extra[i + 1];
      } else {
        args.push_back(c.extra[i]);
        args.push_back(c.extra[i + 1]);
      }
    }
    std::string text;
    EXPECT_NE(test::run_cli(args, &text), 0) << text;
    EXPECT_NE(text.find(c.fragment), std::string::npos) << c.fragment << " not in: " << text;
  }
  if (!ops::cpu_has_bf16()) {  // refused up front, saying why
    std::string msg;
    EXPECT_NE(test::run_cli({"generate", "--base", base, "--ip-adapter", adapter, "--image", image,
                             "--prompt", "x", "--precision", "bf16", "--out", out},
                            &msg),
              0);
    EXPECT_NE(msg.find("bf16"), std::string::npos) << msg;
  }
  // An adapter without a reference image, and an SDXL adapter on the SD1.5 UNet (its tokens'
  // width against the UNet's cross-attention width, both read from the files).
  std::string text;
  EXPECT_NE(test::run_cli({"generate", "--base", base, "--ip-adapter", adapter, "--prompt", "x",
                           "--out", out},
                          &text),
            0);
  EXPECT_TRUE(test::contains(text, "give at least one reference image (--image)")) << text;
  const std::string xl_adapter = test::golden_path("sdxl/ip-adapter_xl_basic.safetensors");
  EXPECT_NE(test::run_cli({"generate", "--base", base, "--ip-adapter", xl_adapter,
                           "--image-encoder", test::golden_path("embed_variants/image_encoder_g"),
                           "--image", image, "--prompt", "x", "--out", out},
                          &text),
            0);
  const int64_t xl_width =
      load_tensor_file(xl_adapter).find("ip_adapter.1.to_k_ip.weight")->size(1);
  EXPECT_TRUE(test::contains(text, "image tokens are " + std::to_string(xl_width) + " wide"))
      << text;
  EXPECT_TRUE(test::contains(text, "made for a different base model")) << text;
}

TEST(CliGenerate, PlainTextToImageAndPngParameters) {
  const std::string out = test::temp_dir("generate_plain") + "/plain.png";
  const std::string base = test::golden_path("pipeline_sd15/sd15");
  // A non-square size that is not the model's default: odd multiples of the size step
  // (lcm of 8 and the VAE's factor), 9 × 5 of them (72×40 for a VAE factor of 8).
  const int step = std::lcm(8, vae_factor(base));
  const int width = 9 * step, height = 5 * step;
  std::string text;
  ASSERT_EQ(test::run_cli({"generate", "--base", base, "--prompt", "a red cat", "--steps", "2",
                           "--width", std::to_string(width), "--height", std::to_string(height),
                           "--seed", "3", "--num-images", "2", "--out", out},
                          &text),
            0)
      << text;
  const image::Image img = image::read_image(out);
  EXPECT_EQ(img.width, width);
  EXPECT_EQ(img.height, height);
  const image::Image second = image::read_image(out.substr(0, out.size() - 4) + "_1.png");
  EXPECT_EQ(second.width, width);
  EXPECT_EQ(second.height, height);
  // The PNG carries the A1111-style parameters text chunk.
  FILE* f = std::fopen(out.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::string bytes;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.append(buf, n);
  std::fclose(f);
  EXPECT_NE(bytes.find("parameters"), std::string::npos);
  EXPECT_NE(bytes.find("Steps: 2"), std::string::npos);
  EXPECT_NE(bytes.find("Seed: 3"), std::string::npos);
  EXPECT_NE(bytes.find("Model family: sd15"), std::string::npos);
}

// SDXL without a negative prompt: force_zeros_for_empty_prompt (model_index.json) gives zero
// negative embeddings; the default size is the UNet's sample_size × 8; size conditioning
// options are accepted.
TEST(CliGenerate, SdxlDefaultsAndSizeConditioning) {
  const std::string dir = test::temp_dir("generate_xl");
  const std::string base = test::golden_path("pipeline_sdxl/sdxl");
  const nlohmann::json unet = nlohmann::json::parse(std::ifstream(base + "/unet/config.json"));
  const int side = unet["sample_size"].get<int>() * vae_factor(base);
  std::string text;
  ASSERT_EQ(
      test::run_cli({"generate", "--base", base, "--prompt", "a lighthouse", "--steps", "1",
                     "--original-size", "2048x1536", "--crop-top-left", "0,16", "--target-size",
                     "1024x1024", "--prompt-2", "at dusk", "--out", dir + "/xl.png"},
                    &text),
      0)
      << text;
  const image::Image img = image::read_image(dir + "/xl.png");
  EXPECT_EQ(img.width, side);
  EXPECT_EQ(img.height, side);
}

}  // namespace
}  // namespace ipa

namespace ipa {
namespace {

// A base folder missing one of its parts names the part.
TEST(CliGenerate, MissingBaseModelPartIsNamed) {
  namespace fs = std::filesystem;
  const fs::path base = fs::path(test::temp_dir("base_parts")) / "sd15";
  fs::copy(test::golden_path("pipeline_sd15/sd15"), base, fs::copy_options::recursive);
  fs::remove_all(base / "vae");
  std::string text;
  EXPECT_EQ(test::run_cli({"generate", "--base", base.string(), "--prompt", "x", "--out",
                           (base / "x.png").string()},
                          &text),
            1);
  EXPECT_NE(text.find("'vae/'"), std::string::npos) << text;
}

}  // namespace
}  // namespace ipa
