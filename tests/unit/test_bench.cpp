// `ipadapter bench` and its random-weight models, on the tiny pipeline_sd15 / pipeline_sdxl
// models (unit tests: what they check comes from our own code, not from the reference):
// - the CLI on the real tiny files reports every key with sane values (no timing bounds);
// - synthesis from the tiny configs writes files with exactly the names and shapes of the real
//   tiny checkpoints (the diffusers / transformers / h94 layouts), which load through the
//   engine and generate finite latents, for both SD1.5 adapter variants and SDXL.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "bench/device_peak.h"
#include "bench/e2e_bench.h"
#include "bench/synthetic_models.h"
#include "emulated_device.h"
#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "ipadapter/engine.h"
#include "ipadapter/io.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace ipa {
namespace {

nlohmann::json json_from_output(const std::string& out) {
  // Progress lines go to stderr (merged here); the JSON object starts on its own line.
  const size_t at = out.rfind("\n{\n");
  const size_t start = out.compare(0, 2, "{\n") == 0 ? 0 : (at == std::string::npos ? at : at + 1);
  if (start == std::string::npos) return nullptr;
  return nlohmann::json::parse(out.substr(start), nullptr, false);
}

void expect_sane_report(const nlohmann::json& j, bool ip) {
  for (const char* key : {"unet_step_s", "unet_gflop_per_step", "peak_gflops", "vae_decode_s",
                          "peak_rss_mb", "load_s", "text_encode_s", "unet_gflops", "pool_peak_mb",
                          "vae_gflop", "unet_plain_step_s", "vae_load_s", "ab_first_forward_s"}) {
    ASSERT_TRUE(j.contains(key) && j[key].is_number()) << key << "\n" << j.dump(2);
    EXPECT_GT(j[key].get<double>(), 0.0) << key;
  }
  for (const char* key : {"ip_overhead_pct", "ip_overhead_ab_pct", "unet_core_efficiency"}) {
    ASSERT_TRUE(j.contains(key) && j[key].is_number()) << key;
    EXPECT_TRUE(std::isfinite(j[key].get<double>())) << key;
  }
  EXPECT_EQ(j["compute_dtype"], "f32");
  EXPECT_EQ(j["output_finite"], true);
  EXPECT_GE(j["unet_calls"].get<int>(), 1);
  ASSERT_TRUE(j["unet_step_profile"].is_array());
  EXPECT_FALSE(j["unet_step_profile"].empty());
  if (ip) {
    EXPECT_GT(j["image_encode_s"].get<double>(), 0.0);
    // Image tokens add attention work: strictly more FLOPs than the plain UNet, and the
    // profiled IP branch took some time.
    EXPECT_GT(j["ip_overhead_flop_pct"].get<double>(), 0.0);
    EXPECT_GT(j["ip_branch_s_per_step"].get<double>(), 0.0);
  }
}

// The pipeline_sd15 case's image size (valid for its tiny models), as CLI arguments.
std::vector<std::string> case_size_args() {
  const nlohmann::json kw = test::load_case("pipeline_sd15").at("generate_kwargs");
  return {"--width", std::to_string(kw.at("width").get<int>()), "--height",
          std::to_string(kw.at("height").get<int>())};
}

TEST(Bench, CliOnTinyRealModels) {
  const std::string models = test::golden_path("pipeline_sd15/IP-Adapter/models");
  std::string out;
  std::vector<std::string> args = {"bench",
                                   "--base",
                                   test::golden_path("pipeline_sd15/sd15"),
                                   "--ip-adapter",
                                   models + "/ip-adapter_sd15.bin",
                                   "--steps",
                                   "2",
                                   "--threads",
                                   "1",
                                   "--peak-seconds",
                                   "0.02",
                                   "--cache",
                                   test::temp_dir("bench_cli"),
                                   "--json"};
  for (const auto& a : case_size_args()) args.push_back(a);
  const int rc = test::run_cli(args, &out);
  ASSERT_EQ(rc, 0) << out;
  const nlohmann::json j = json_from_output(out);
  ASSERT_TRUE(j.is_object()) << out;
  expect_sane_report(j, true);
  EXPECT_EQ(j["synthetic_weights"], false);
  EXPECT_EQ(j["adapter_variant"], "basic");
  EXPECT_EQ(j["unet_calls"].get<int>(), static_cast<int>(j["unet_steps_s"].size()));
}

// Off the host the bench reads the device's figures from its backend: here the emulated device
// (host memory behind the device wall), so every device key is exercised without a GPU.
TEST(Bench, OnADeviceReportsItsMemoryPeakAndIpOverhead) {
  const Device dev = test::register_emulated_device();
  bench::E2EBenchOptions o;
  o.base = test::golden_path("pipeline_sd15/sd15");
  o.ip_adapter = test::golden_path("pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.bin");
  o.compute.device = dev.name();
  o.compute.threads = 1;
  o.steps = 2;
  o.peak_run_s = 0.02;
  o.device_peak_size = 64;
  o.cache_dir = test::temp_dir("bench_device");
  const nlohmann::json kw = test::load_case("pipeline_sd15").at("generate_kwargs");
  o.width = kw.at("width").get<int>();
  o.height = kw.at("height").get<int>();
  const nlohmann::json j = bench::run_e2e_bench(o);
  EXPECT_EQ(j["device"], dev.name());
  EXPECT_NE(j["device_description"].get<std::string>().find(dev.name()), std::string::npos);
  for (const char* key :
       {"device_peak_memory_mb", "device_peak_tflops_bf16_measured", "unet_tflops", "it_per_s",
        "device_unet_plain_step_s", "device_unet_ip_step_s", "time_to_first_image_s"}) {
    ASSERT_TRUE(j.contains(key) && j[key].is_number()) << key << "\n" << j.dump(2);
    EXPECT_GT(j[key].get<double>(), 0.0) << key;
  }
  EXPECT_TRUE(std::isfinite(j["device_ip_overhead_ab_pct"].get<double>()));
  EXPECT_DOUBLE_EQ(j["it_per_s"].get<double>(), 1.0 / j["unet_step_s"].get<double>());
  // The emulated device is no GPU we know: no datasheet peak, and the fraction says 0.
  EXPECT_EQ(j["device_peak_tflops_bf16_datasheet"].get<double>(), 0.0);
  EXPECT_EQ(j["output_finite"], true);
}

TEST(Bench, DatasheetPeaksByGpuName) {
  std::string why;
  EXPECT_DOUBLE_EQ(bench::datasheet_bf16_tflops("cuda:0 NVIDIA H100 80GB HBM3 (sm_90)", &why),
                   989.4);
  EXPECT_NE(why.find("H100 SXM"), std::string::npos) << why;
  EXPECT_DOUBLE_EQ(bench::datasheet_bf16_tflops("cuda:0 NVIDIA H100 PCIe", &why), 756.5);
  EXPECT_DOUBLE_EQ(bench::datasheet_bf16_tflops("cuda:1 NVIDIA H200", &why), 989.4);
  EXPECT_DOUBLE_EQ(bench::datasheet_bf16_tflops("cuda:0 NVIDIA A100-SXM4-80GB", &why), 312.0);
  EXPECT_DOUBLE_EQ(bench::datasheet_bf16_tflops("cuda:0 NVIDIA GeForce RTX 4090", &why), 0.0);
  EXPECT_NE(why.find("unknown"), std::string::npos) << why;
}

void copy_config(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

// A configs/ folder (the repository's layout) holding the tiny models' configs.
std::string tiny_configs(const std::string& dir) {
  const fs::path sd = test::golden_path("pipeline_sd15");
  const fs::path xl = test::golden_path("pipeline_sdxl");
  const fs::path dst = fs::path(dir) / "configs";
  for (const char* part : {"unet", "vae", "text_encoder"}) {
    copy_config(sd / "sd15" / part / "config.json", dst / "sd15" / part / "config.json");
  }
  for (const char* part : {"unet", "vae", "text_encoder", "text_encoder_2"}) {
    copy_config(xl / "sdxl" / part / "config.json", dst / "sdxl" / part / "config.json");
  }
  for (const char* arch : {"sd15", "sdxl"}) {
    const fs::path src = arch == std::string("sd15") ? sd : xl;
    copy_config(src / arch / "scheduler" / "scheduler_config.json",
                dst / arch / "scheduler" / "scheduler_config.json");
    copy_config(src / arch / "model_index.json", dst / arch / "model_index.json");
  }
  copy_config(sd / "IP-Adapter" / "models" / "image_encoder" / "config.json",
              dst / "image_encoder_vit-h" / "config.json");
  copy_config(xl / "IP-Adapter" / "sdxl_models" / "image_encoder" / "config.json",
              dst / "image_encoder_vit-bigg" / "config.json");
  return dst.string();
}

// One short generation through the engine on a synthetic model set: finite, non-zero latents.
void expect_generates(const bench::SyntheticModels& m, const std::string& variant, int64_t tokens) {
  EngineOptions eo;
  eo.base = m.base;
  eo.ip_adapters = {{m.ip_adapter, ""}};  // the encoder is found beside it (h94 layout)
  auto engine = Engine::load(eo);
  ASSERT_EQ(engine->info().adapters.size(), 1u);
  EXPECT_EQ(engine->info().adapters[0].variant, variant);
  EXPECT_EQ(engine->info().adapters[0].tokens_per_image, tokens);
  GenerateRequest r;
  r.prompt = "a cat";
  r.image_prompts = {{{read_image(m.reference_image)}, 0.6f}};
  r.steps = 2;
  const GenerateResult res = engine->generate(r);
  ASSERT_EQ(res.images.size(), 1u);
  float max_abs = 0;
  for (float x : res.final_latents.data) {
    ASSERT_TRUE(std::isfinite(x));
    max_abs = std::max(max_abs, std::fabs(x));
  }
  EXPECT_GT(max_abs, 0.f);
}

std::map<std::string, Shape> shapes_of(const std::string& path) {
  std::map<std::string, Shape> m;
  for (const auto& t : load_tensor_file(path).tensors) m[t.name] = t.tensor.shape();
  return m;
}

// A synthesized basic adapter against a real tiny one of the same UNet and encoder: the same
// keys with the same shapes, except that the synthesized projection makes the released 4
// tokens while the tiny file makes its own count (proj rows = tokens × cross_attention_dim).
void expect_basic_adapter_layout(const std::string& real, const std::string& synthesized) {
  const auto want = shapes_of(real);
  const auto got = shapes_of(synthesized);
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [k, shape] : want) {
    SCOPED_TRACE(k);
    ASSERT_TRUE(got.count(k));
    if (k == "image_proj.proj.weight" || k == "image_proj.proj.bias") continue;
    EXPECT_EQ(got.at(k), shape);
  }
  const int64_t cross = got.at("image_proj.norm.weight")[0];
  EXPECT_EQ(got.at("image_proj.proj.weight"),
            (Shape{4 * cross, want.at("image_proj.proj.weight")[1]}));
  EXPECT_EQ(got.at("image_proj.proj.bias"), (Shape{4 * cross}));
}

TEST(Bench, SynthesizedTinyModelsHaveTheRealLayoutAndRun) {
  const std::string dir = test::temp_dir("bench_synth");
  bench::SyntheticModelsSpec spec;
  spec.configs_dir = tiny_configs(dir);
  spec.cache_dir = dir + "/cache";
  spec.seed = 3;
  const bench::SyntheticModels m = bench::ensure_synthetic_models(spec);
  EXPECT_TRUE(m.generated);

  // Same names and shapes as the real tiny checkpoints (F16 where they are stored as such).
  const fs::path real = test::golden_path("pipeline_sd15");
  const std::vector<std::pair<fs::path, fs::path>> pairs = {
      {real / "sd15/unet/diffusion_pytorch_model.safetensors",
       fs::path(m.base) / "unet/diffusion_pytorch_model.safetensors"},
      {real / "sd15/vae/diffusion_pytorch_model.safetensors",
       fs::path(m.base) / "vae/diffusion_pytorch_model.safetensors"},
      {real / "sd15/text_encoder/model.safetensors",
       fs::path(m.base) / "text_encoder/model.safetensors"},
      {real / "IP-Adapter/models/image_encoder/model.safetensors",
       fs::path(m.image_encoder) / "model.safetensors"}};
  for (const auto& [r, s] : pairs) {
    SCOPED_TRACE(s.string());
    auto want = shapes_of(r.string());
    want.erase("text_model.embeddings.position_ids");  // a buffer, not a weight
    want.erase("vision_model.embeddings.position_ids");
    EXPECT_EQ(shapes_of(s.string()), want);
  }
  // The adapter: the released layout (the tiny golden adapter has the sd15 structure).
  expect_basic_adapter_layout((real / "IP-Adapter/models/ip-adapter_sd15.safetensors").string(),
                              m.ip_adapter);

  // A second call finds everything in the cache.
  EXPECT_FALSE(bench::ensure_synthetic_models(spec).generated);

  for (const std::string variant : {"basic", "plus"}) {
    SCOPED_TRACE(variant);
    spec.adapter_variant = variant;
    const bench::SyntheticModels v = bench::ensure_synthetic_models(spec);
    // The released token counts of ImageProjModel (4) and the Resampler (16).
    expect_generates(v, variant, variant == "plus" ? 16 : 4);
  }

  // The CLI in synthetic mode (plus adapter) on the same cache.
  std::string out;
  const int rc = test::run_cli({"bench",
                                "--configs",
                                spec.configs_dir,
                                "--cache",
                                spec.cache_dir,
                                "--seed",
                                "3",
                                "--adapter-variant",
                                "plus",
                                "--width",
                                case_size_args()[1],
                                "--height",
                                case_size_args()[3],
                                "--steps",
                                "1",
                                "--threads",
                                "1",
                                "--peak-seconds",
                                "0.02",
                                "--json"},
                               &out);
  ASSERT_EQ(rc, 0) << out;
  const nlohmann::json j = json_from_output(out);
  ASSERT_TRUE(j.is_object()) << out;
  expect_sane_report(j, true);
  EXPECT_EQ(j["synthetic_weights"], true);
  EXPECT_EQ(j["adapter_variant"], "plus");
  EXPECT_EQ(j["weights_generated_this_run"], false);
}

TEST(Bench, SynthesizedTinySdxlModelsHaveTheRealLayoutAndRun) {
  const std::string dir = test::temp_dir("bench_synth_xl");
  bench::SyntheticModelsSpec spec;
  spec.configs_dir = tiny_configs(dir);
  spec.cache_dir = dir + "/cache";
  spec.arch = "sdxl";
  spec.seed = 5;
  const bench::SyntheticModels m = bench::ensure_synthetic_models(spec);
  EXPECT_TRUE(m.generated);
  const fs::path real = test::golden_path("pipeline_sdxl");
  const std::vector<std::pair<fs::path, fs::path>> pairs = {
      {real / "sdxl/unet/diffusion_pytorch_model.safetensors",
       fs::path(m.base) / "unet/diffusion_pytorch_model.safetensors"},
      {real / "sdxl/vae/diffusion_pytorch_model.safetensors",
       fs::path(m.base) / "vae/diffusion_pytorch_model.safetensors"},
      {real / "sdxl/text_encoder/model.safetensors",
       fs::path(m.base) / "text_encoder/model.safetensors"},
      {real / "sdxl/text_encoder_2/model.safetensors",
       fs::path(m.base) / "text_encoder_2/model.safetensors"},
      {real / "IP-Adapter/sdxl_models/image_encoder/model.safetensors",
       fs::path(m.image_encoder) / "model.safetensors"}};
  for (const auto& [r, s] : pairs) {
    SCOPED_TRACE(s.string());
    auto want = shapes_of(r.string());
    want.erase("text_model.embeddings.position_ids");  // a buffer, not a weight
    want.erase("vision_model.embeddings.position_ids");
    EXPECT_EQ(shapes_of(s.string()), want);
  }
  expect_basic_adapter_layout(
      (real / "IP-Adapter/sdxl_models/ip-adapter_sdxl.safetensors").string(), m.ip_adapter);
  expect_generates(m, "basic", 4);

  std::string out;
  const int rc = test::run_cli(
      {"bench", "--arch", "sdxl", "--configs", spec.configs_dir, "--cache", spec.cache_dir,
       "--seed", "5", "--steps", "2", "--threads", "1", "--peak-seconds", "0.02", "--json"},
      &out);
  ASSERT_EQ(rc, 0) << out;
  const nlohmann::json j = json_from_output(out);
  ASSERT_TRUE(j.is_object()) << out;
  expect_sane_report(j, true);
  EXPECT_EQ(j["arch"], "sdxl");
  EXPECT_EQ(j["weights_generated_this_run"], false);
}

}  // namespace
}  // namespace ipa
