// The public engine on the tiny pipeline_sd15 / pipeline_sdxl models (unit tests: results are
// compared with the engine's own, not with the reference — the golden CLI tests do that):
// - a second generate() on one engine gives the same image; a one-shot engine (each model held
//   only for its phase) computes exactly what an engine that keeps them computes;
// - a cancelled generation throws ipa::Cancelled and leaves the engine usable;
// - bad requests and mismatched models are refused before anything runs, naming the field or
//   the file, with sizes taken from the models (never written into the test).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "formats/tensor_file.h"
#include "ipadapter/engine.h"
#include "ipadapter/io.h"
#include "models/unet/config.h"
#include "tensor/block_pool.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace ipa {
namespace {

EngineOptions sd15_options(bool one_shot) {
  EngineOptions o;
  o.base = test::golden_path("pipeline_sd15/sd15");
  o.ip_adapters = {
      {test::golden_path("pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.safetensors"), ""}};
  o.one_shot = one_shot;
  return o;
}

GenerateRequest small_request() {
  GenerateRequest r;
  r.prompt = "a cat";
  r.negative_prompt = "blurry";
  r.image_prompts = {{{read_image(test::golden_path("pipeline_sd15/reference.png"))}, 0.6f}};
  r.steps = 2;
  r.seed = 7;
  return r;
}

TEST(Engine, RepeatsAndOneShotMatchKeptModelsExactly) {
  auto kept = Engine::load(sd15_options(false));
  const GenerateResult a = kept->generate(small_request());
  const GenerateResult a2 = kept->generate(small_request());  // same engine, same request
  auto once = Engine::load(sd15_options(true));
  const GenerateResult b = once->generate(small_request());
  ASSERT_FALSE(a.final_latents.data.empty());
  EXPECT_EQ(a.final_latents.data, a2.final_latents.data);
  EXPECT_EQ(a.final_latents.data, b.final_latents.data);
  ASSERT_EQ(b.images.size(), 1u);
  EXPECT_EQ(a.images[0], a2.images[0]);
  EXPECT_EQ(a.images[0], b.images[0]);
  EXPECT_EQ(a.timings.unet_load_s, 0.0);  // loaded by Engine::load
  EXPECT_GT(b.timings.unet_load_s, 0.0);  // loaded inside generate()
  // The default size is the UNet's sample_size times the VAE's factor.
  const auto unet =
      unet::load_unet_config(test::golden_path("pipeline_sd15/sd15/unet/config.json"));
  EXPECT_EQ(a.width, unet.sample_size * kept->info().vae_scale_factor);
  EXPECT_EQ(a.images[0].width, a.width);

  const std::string msg = test::error_of([&] { once->generate(small_request()); });
  EXPECT_TRUE(test::contains(msg, "one generation")) << msg;
}

TEST(Engine, CancelledGenerationLeavesTheEngineUsable) {
  auto engine = Engine::load(sd15_options(false));
  const GenerateResult reference = engine->generate(small_request());
  int calls = 0;
  Callbacks stop_after_one;
  stop_after_one.on_step = [&](const StepProgress& p) {
    ++calls;
    EXPECT_EQ(p.step, 1);
    EXPECT_EQ(p.total, small_request().steps);
    return false;
  };
  // Every activation of a finished generation is back in the pool; a cancelled one must leave
  // exactly as much in use (nothing leaked by the unwinding).
  const size_t in_use = pool_stats().bytes_in_use;
  EXPECT_THROW(engine->generate(small_request(), stop_after_one), Cancelled);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(pool_stats().bytes_in_use, in_use);
  const GenerateResult again = engine->generate(small_request());
  EXPECT_EQ(again.final_latents.data, reference.final_latents.data);
  EXPECT_EQ(again.images[0], reference.images[0]);
}

TEST(Engine, ImageScaleTravelsWithTheRequest) {
  auto engine = Engine::load(sd15_options(false));
  GenerateRequest text_only = small_request();
  text_only.image_prompts[0].scale = 0.f;
  const GenerateResult zero = engine->generate(text_only);
  const GenerateResult normal = engine->generate(small_request());
  const GenerateResult zero_again = engine->generate(text_only);
  EXPECT_NE(zero.final_latents.data, normal.final_latents.data);
  EXPECT_EQ(zero.final_latents.data, zero_again.final_latents.data);
}

// A bad request is refused before the encoders run, so a one-shot engine is still usable.
TEST(Engine, BadRequestsAreRefusedBeforeAnythingRuns) {
  auto once = Engine::load(sd15_options(true));
  const EngineInfo& info = once->info();
  GenerateRequest bad = small_request();
  const int64_t h = info.default_height / info.vae_scale_factor;
  const int64_t w = info.default_width / info.vae_scale_factor;
  // One latent more than the default size on each side.
  bad.init_latents = {{1, info.latent_channels, h + 1, w + 1},
                      std::vector<float>(info.latent_channels * (h + 1) * (w + 1))};
  const std::string expected = shape_str({1, info.latent_channels, h, w});
  std::string msg = test::error_of([&] { once->generate(bad); });
  EXPECT_TRUE(test::contains(msg, expected)) << expected << " not in: " << msg;
  bad = small_request();
  bad.width = 60;
  EXPECT_TRUE(test::contains(test::error_of([&] { once->generate(bad); }), "width"));
  bad = small_request();
  bad.steps = 0;
  EXPECT_TRUE(test::contains(test::error_of([&] { once->generate(bad); }), "steps"));
  bad = small_request();
  bad.image_prompts.clear();
  EXPECT_TRUE(test::contains(test::error_of([&] { once->generate(bad); }), "image_prompts"));
  bad = small_request();
  bad.image_prompts[0].scale = NAN;
  EXPECT_TRUE(test::contains(test::error_of([&] { once->generate(bad); }), "scale"));
  EXPECT_EQ(once->generate(small_request()).images.size(), 1u);
}

// A one-shot engine still opens the UNet's weights file at load: a truncated one is an
// error naming it there, not after the encoders ran.
TEST(Engine, OneShotFindsABrokenUNetFileAtLoad) {
  const fs::path dir = fs::path(test::temp_dir("one_shot_broken")) / "sd15";
  fs::copy(test::golden_path("pipeline_sd15/sd15"), dir, fs::copy_options::recursive);
  fs::resize_file(dir / "unet" / "diffusion_pytorch_model.safetensors", 100);
  EngineOptions o = sd15_options(true);
  o.base = dir.string();
  const std::string msg = test::error_of([&] { Engine::load(o); });
  EXPECT_TRUE(test::contains(msg, "diffusion_pytorch_model.safetensors")) << msg;
}

// An adapter for the other family is refused at load, with both widths in the message.
TEST(Engine, AdapterForTheOtherFamilyIsRefusedAtLoad) {
  const std::string xl_adapter =
      test::golden_path("pipeline_sdxl/IP-Adapter/sdxl_models/ip-adapter_sdxl.bin");
  const TensorFile f = load_tensor_file(xl_adapter);
  const int64_t xl_width = f.find("ip_adapter.1.to_k_ip.weight")->size(1);
  const int64_t sd_width =
      unet::load_unet_config(test::golden_path("pipeline_sd15/sd15/unet/config.json"))
          .cross_attention_dim;
  for (bool one_shot : {true, false}) {
    EngineOptions o = sd15_options(one_shot);
    o.ip_adapters = {{xl_adapter, ""}};
    const std::string msg = test::error_of([&] { Engine::load(o); });
    EXPECT_TRUE(test::contains(msg, std::to_string(xl_width) + " wide")) << msg;
    EXPECT_TRUE(test::contains(msg, "cross_attention_dim is " + std::to_string(sd_width))) << msg;
    EXPECT_TRUE(test::contains(msg, "ip-adapter_sdxl.bin")) << msg;
  }
  // And the SD1.5 adapter on the SDXL base.
  EngineOptions o;
  o.base = test::golden_path("pipeline_sdxl/sdxl");
  o.ip_adapters = {{test::golden_path("pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.bin"), ""}};
  EXPECT_TRUE(test::contains(test::error_of([&] { Engine::load(o); }), "ip-adapter_sd15.bin"));
}

// The family comes from model_index.json; an unknown pipeline class, or a class that disagrees
// with the UNet, is refused at load naming what was found.
TEST(Engine, FamilyFromModelIndex) {
  EngineOptions o;
  o.base = test::golden_path("pipeline_sdxl/sdxl");
  auto xl = Engine::load(o);
  EXPECT_EQ(xl->info().family, ModelFamily::SDXL);
  EXPECT_EQ(xl->info().default_cfg, 5.0f);
  o.base = test::golden_path("pipeline_sd15/sd15");
  EXPECT_EQ(Engine::load(o)->info().family, ModelFamily::SD15);

  for (const std::string cls : {"StableDiffusion3Pipeline", "StableDiffusionXLPipeline"}) {
    const fs::path dir = fs::path(test::temp_dir("family")) / "sd15";
    fs::copy(test::golden_path("pipeline_sd15/sd15"), dir, fs::copy_options::recursive);
    auto index = nlohmann::json::parse(std::ifstream(dir / "model_index.json"));
    index["_class_name"] = cls;
    std::ofstream(dir / "model_index.json") << index.dump();
    o.base = dir.string();
    const std::string msg = test::error_of([&] { Engine::load(o); });
    EXPECT_TRUE(test::contains(msg, cls)) << msg;
    EXPECT_TRUE(test::contains(msg, "model_index.json")) << msg;
  }
}

}  // namespace
}  // namespace ipa

namespace ipa {
namespace {

// Both SDXL adapter kinds (ImageProjModel like ip-adapter_sdxl, Resampler like the plus /
// plus-face _vit-h files, whose unconditional tokens come from the encoder on an all-zero
// image) generate on an SDXL base, each with the encoder found by its width in an h94-like
// layout: the `sdxl` case's UNet and text encoders, pipeline_sdxl's VAE and scheduler, the
// embed_variants encoders as models/ and sdxl_models/ image encoders.
TEST(Engine, SdxlAdapterVariantsGenerateWithTheirEncoders) {
  const fs::path root = test::temp_dir("xl_variants");
  const fs::path base = root / "sdxl";
  const fs::path h94 = root / "IP-Adapter";
  for (const fs::path& d : {base, h94 / "models", h94 / "sdxl_models"}) fs::create_directories(d);
  for (const char* part : {"unet", "text_encoder", "text_encoder_2"}) {
    fs::copy(test::golden_path(std::string("sdxl/") + part), base / part,
             fs::copy_options::recursive);
  }
  for (const char* part : {"vae", "scheduler", "tokenizer", "tokenizer_2"}) {
    fs::copy(test::golden_path(std::string("pipeline_sdxl/sdxl/") + part), base / part,
             fs::copy_options::recursive);
  }
  fs::copy_file(test::golden_path("pipeline_sdxl/sdxl/model_index.json"),
                base / "model_index.json");
  fs::copy(test::golden_path("embed_variants/image_encoder"), h94 / "models" / "image_encoder",
           fs::copy_options::recursive);
  fs::copy(test::golden_path("embed_variants/image_encoder_g"),
           h94 / "sdxl_models" / "image_encoder", fs::copy_options::recursive);
  const auto sdxl_case = test::load_case("sdxl");
  int checked = 0;
  for (const auto& [variant, v] : sdxl_case.at("variants").items()) {
    SCOPED_TRACE(variant);
    std::string file;  // the .safetensors of the variant's files
    for (const auto& f : v.at("files")) {
      if (f.get<std::string>().ends_with(".safetensors")) file = f.get<std::string>();
    }
    ASSERT_FALSE(file.empty());
    fs::copy_file(test::golden_path("sdxl/" + file), h94 / "sdxl_models" / file,
                  fs::copy_options::overwrite_existing);
    EngineOptions o;
    o.base = base.string();
    o.ip_adapters = {{(h94 / "sdxl_models" / file).string(), ""}};
    auto engine = Engine::load(o);
    const AdapterDescription& a = engine->info().adapters.at(0);
    EXPECT_EQ(a.tokens_per_image, v.at("num_tokens").get<int64_t>());
    GenerateRequest r;
    r.prompt = "a lighthouse";
    r.image_prompts = {{{read_image(test::golden_path("pipeline_sdxl/reference.png"))}, 0.6f}};
    r.steps = 1;
    // The default size (the UNet's sample_size × the VAE's factor) fits these models.
    r.width = r.height = 0;
    const GenerateResult with = engine->generate(r);
    r.image_prompts[0].scale = 0.f;
    const GenerateResult without = engine->generate(r);
    for (float x : with.final_latents.data) ASSERT_TRUE(std::isfinite(x));
    EXPECT_NE(with.final_latents.data, without.final_latents.data);
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(sdxl_case.at("variants").size()));
}

}  // namespace
}  // namespace ipa
