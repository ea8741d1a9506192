// The image-prompt controls against diffusers 0.30.3 with its own load_ip_adapter (case
// ip_controls_sd15; every setting below is read from the case JSON): several adapters at once,
// a per-block scale dictionary, regional masks with per-image scales, precomputed embeddings
// whose negative half comes from a negative image (through `image_embeds` and, equally, through
// `images` + `negative_images`), a step window and two images of one adapter — each through
// `ipadapter generate --request`, latents after every step within 1e-3 · max|expected| and
// the PNG within ±1 (the pipeline tolerance: module errors of ~1e-6 compound over the steps).
// The mask processor and the per-layer scales it resolved are checked on their own too
// (1e-5: resize and bicubic interpolation in float).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "adapter/ip_attention.h"
#include "adapter/layer_weights.h"
#include "formats/safetensors.h"
#include "image/decode.h"
#include "image/binary_mask.h"
#include "ipadapter/request_json.h"
#include "models/unet/config.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace ipa {
namespace {

constexpr const char* kCase = "ip_controls_sd15";

struct Controls {
  nlohmann::json c = test::load_case(kCase);
  const TensorFile& g = test::load_golden(kCase);
  std::string dir = test::temp_dir("ip_controls");

  std::string path(const std::string& rel) const {
    return test::golden_path(std::string(kCase) + "/" + rel);
  }
  std::string adapter(const std::string& name) const { return path("IP-Adapter/models/" + name); }

  // The request common to every sub-run: prompts, size, steps, CFG, the fixed latents.
  nlohmann::json request(const std::string& run) const {
    const auto& common = c["pipeline_call_common"];
    const auto& r = c["runs"][run];
    nlohmann::json j;
    j["base"] = test::golden_path("pipeline_sd15/sd15");
    j["prompt"] = common["prompt"];
    j["negative_prompt"] = common["negative_prompt"];
    j["width"] = common["width"];
    j["height"] = common["height"];
    j["steps"] = r.contains("num_inference_steps") ? r["num_inference_steps"]
                                                   : common["num_inference_steps"];
    j["cfg"] = common["guidance_scale"];
    const std::string init = dir + "/init.safetensors";
    write_safetensors(init, {{"latents", test::golden_tensor(g, "init_latents")}});
    j["init_latents"] = init;
    return j;
  }

  // Runs the request through the CLI and compares every step's latents and the PNG.
  void check_run(const std::string& run, const nlohmann::json& request) const {
    SCOPED_TRACE(run);
    const std::string file = dir + "/" + run + ".json", dump = dir + "/" + run + ".safetensors",
                      png = dir + "/" + run + ".png";
    std::ofstream(file) << request.dump(1);
    std::string out;
    ASSERT_EQ(
        test::run_cli({"generate", "--request", file, "--dump-latents", dump, "--out", png}, &out),
        0)
        << out;
    const TensorFile dumped = read_safetensors(dump);
    const Tensor steps = test::golden_tensor(g, run + ".step_latents");
    ASSERT_GT(steps.size(0), 0);
    for (int64_t i = 0; i < steps.size(0); ++i) {
      const Tensor* got = dumped.find("step_" + std::to_string(i));
      ASSERT_NE(got, nullptr) << "step " << i;
      EXPECT_TRUE(test::AllCloseRel(*got, steps.select(0, i), 1e-3)) << "step " << i;
    }
    EXPECT_EQ(dumped.find("step_" + std::to_string(steps.size(0))), nullptr);
    const image::Image img = image::read_image(png);
    const Tensor expected = test::golden_tensor(g, run + ".image_u8");
    ASSERT_EQ(img.height, expected.size(0));
    ASSERT_EQ(img.width, expected.size(1));
    const std::vector<float> e = expected.to_floats();
    int worst = 0;
    for (size_t i = 0; i < e.size(); ++i) {
      worst = std::max(worst, std::abs(static_cast<int>(img.rgb[i]) - static_cast<int>(e[i])));
    }
    EXPECT_LE(worst, 1);
  }

  // "images/ref_a.png (adapter 0, basic)" → the file's path.
  std::string image(const nlohmann::json& entry) const {
    const std::string s = entry.get<std::string>();
    return path(s.substr(0, s.find(' ')));
  }
};

TEST(GoldenIpControls, SeveralAdapters) {
  Controls x;
  const auto& r = x.c["runs"]["multi"];
  nlohmann::json j = x.request("multi");
  ASSERT_EQ(r["load_ip_adapter"]["weight_name"].size(), r["set_ip_adapter_scale"].size());
  for (size_t i = 0; i < r["load_ip_adapter"]["weight_name"].size(); ++i) {
    j["ip_adapters"].push_back({{"file", x.adapter(r["load_ip_adapter"]["weight_name"][i])},
                                {"images", {x.image(r["call"]["ip_adapter_image"][i])}},
                                {"scale", r["set_ip_adapter_scale"][i]}});
  }
  x.check_run("multi", j);
}

TEST(GoldenIpControls, PerBlockScales) {
  Controls x;
  const auto& r = x.c["runs"]["blocks"];
  nlohmann::json j = x.request("blocks");
  j["ip_adapters"] = {{{"file", x.adapter(r["load_ip_adapter"]["weight_name"])},
                       {"images", {x.image(r["call"]["ip_adapter_image"])}},
                       {"scale", r["set_ip_adapter_scale"]}}};
  x.check_run("blocks", j);
}

// The dictionary resolves to the per-layer scales diffusers' processors held.
TEST(GoldenIpControls, PerBlockScalesResolveLikeDiffusers) {
  Controls x;
  const auto& r = x.c["runs"]["blocks"];
  const auto layers = unet::cross_attention_layers(
      unet::load_unet_config(test::golden_path("pipeline_sd15/sd15/unet/config.json")));
  // The dictionary through the request parser, as a user writes it.
  nlohmann::json j = x.request("blocks");
  j["ip_adapters"] = {{{"file", x.adapter(r["load_ip_adapter"]["weight_name"])},
                       {"images", {x.image(r["call"]["ip_adapter_image"])}},
                       {"scale", r["set_ip_adapter_scale"]}}};
  const ParsedRequest pr = parse_request_json(j.dump(), file_request_sources(""));
  ASSERT_TRUE(pr.request.image_prompts.at(0).block_scales);
  const std::vector<float> got =
      resolve_block_scales(*pr.request.image_prompts[0].block_scales, layers);
  ASSERT_EQ(got.size(), r["per_layer_scale"].size());
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& e = r["per_layer_scale"][i];
    EXPECT_EQ(layers[i].path + ".processor", e["processor"].get<std::string>());
    EXPECT_EQ(got[i], e["scale"][0].get<float>()) << layers[i].path;
  }
}

TEST(GoldenIpControls, MasksWithPerImageScales) {
  Controls x;
  const auto& r = x.c["runs"]["masks"];
  nlohmann::json j = x.request("masks");
  nlohmann::json images = nlohmann::json::array(), masks = nlohmann::json::array();
  for (const auto& i : r["call"]["ip_adapter_image"][0])
    images.push_back(x.path(i.get<std::string>()));
  for (const auto& m : r["mask_pngs"]) masks.push_back(x.path(m.get<std::string>()));
  j["ip_adapters"] = {{{"file", x.adapter(r["load_ip_adapter"]["weight_name"])},
                       {"images", images},
                       {"masks", masks},
                       {"scale", r["set_ip_adapter_scale"][0]}}};
  x.check_run("masks", j);
}

// IPAdapterMaskProcessor.preprocess and .downsample on the case's masks.
TEST(GoldenIpControls, MaskProcessor) {
  Controls x;
  const auto& r = x.c["runs"]["masks"];
  const int w = x.c["pipeline_call_common"]["width"], h = x.c["pipeline_call_common"]["height"];
  const Tensor pre = test::golden_tensor(x.g, "masks.mask_preprocessed");  // [n, 1, H, W]
  ASSERT_EQ(pre.size(0), static_cast<int64_t>(r["mask_pngs"].size()));
  int checked = 0;
  for (size_t i = 0; i < r["mask_pngs"].size(); ++i) {
    const Tensor mask = image::binary_mask(
        image::read_image(x.path(r["mask_pngs"][i].get<std::string>())), w, h);
    EXPECT_TRUE(test::AllCloseAbs(mask, pre.select(0, i).select(0, 0).contiguous(), 0.0)) << i;
    for (const auto& [name, spec] : x.c["tensors"].items()) {
      const std::string prefix = "masks.mask_downsampled.";
      if (name.rfind(prefix, 0) != 0) continue;
      const int64_t nq = std::stoll(name.substr(prefix.size()));
      const Tensor want = test::golden_tensor(x.g, name);  // [n, B, nq]
      EXPECT_TRUE(test::AllCloseAbs(downsample_ip_mask(mask, nq),
                                    want.select(0, i).select(0, 0).contiguous(), 1e-5))
          << name << " mask " << i;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

// Precomputed features whose negative half is a negative image's: through an embeddings file,
// and through images + negative_images.
TEST(GoldenIpControls, EmbedsWithANegativeImage) {
  Controls x;
  const auto& r = x.c["runs"]["embeds"];
  const Tensor input = test::golden_tensor(x.g, "embeds.input_embeds");  // [2 (neg, ref), n, ...]
  const std::string embeds = x.dir + "/embeds.safetensors";
  write_safetensors(embeds, {{"clip_feature", input.select(0, 1).contiguous()},
                             {"uncond_clip_feature", input.select(0, 0).contiguous()}});
  const std::string adapter = x.adapter(r["load_ip_adapter"]["weight_name"]);
  nlohmann::json j = x.request("embeds");
  j["ip_adapters"] = {
      {{"file", adapter}, {"image_embeds", embeds}, {"scale", r["set_ip_adapter_scale"]}}};
  x.check_run("embeds", j);
  j["ip_adapters"] = {{{"file", adapter},
                       {"images", {x.path("images/ref_a.png")}},
                       {"negative_images", {x.path("images/negative.png")}},
                       {"scale", r["set_ip_adapter_scale"]}}};
  x.check_run("embeds", j);
}

TEST(GoldenIpControls, StepWindow) {
  Controls x;
  const auto& r = x.c["runs"]["window"];
  const auto& w = r["window"];
  const double steps = w["steps"].get<double>();
  nlohmann::json j = x.request("window");
  j["steps"] = w["steps"];
  j["ip_adapters"] = {{{"file", x.adapter(r["load_ip_adapter"]["weight_name"])},
                       {"images", {x.image(r["call"]["ip_adapter_image"])}},
                       {"scale", w["scale"]},
                       {"start", w["start"].get<double>() / steps},
                       {"end", w["end"].get<double>() / steps}}};
  x.check_run("window", j);
}

TEST(GoldenIpControls, TwoImagesOneAdapter) {
  Controls x;
  const auto& r = x.c["runs"]["multi_image"];
  nlohmann::json j = x.request("multi_image");
  nlohmann::json images = nlohmann::json::array();
  for (const auto& i : r["call"]["ip_adapter_image"][0])
    images.push_back(x.path(i.get<std::string>()));
  j["ip_adapters"] = {{{"file", x.adapter(r["load_ip_adapter"]["weight_name"])},
                       {"images", images},
                       {"scale", r["set_ip_adapter_scale"]}}};
  x.check_run("multi_image", j);
}

}  // namespace
}  // namespace ipa
