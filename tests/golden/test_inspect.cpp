// `ipadapter inspect --json` describes every adapter file of the goldens as the case JSON says.
#include <gtest/gtest.h>

#include "test_support.h"

namespace ipa {
namespace {

nlohmann::json inspect_json(const std::string& path) {
  std::string out;
  const int rc = test::run_cli({"inspect", "--json", "--no-tensors", path}, &out);
  EXPECT_EQ(rc, 0) << out;
  return nlohmann::json::parse(out);
}

std::string variant_of_class(const std::string& cls) {
  if (cls == "ImageProjModel") return "basic";
  if (cls == "Resampler") return "plus";
  if (cls == "MLPProjModel") return "full-face";
  return "?";
}

// The base model a layer count means: the released UNets have 16 (SD1.5) and 70 (SDXL) IP
// layers; other counts (tiny models) are "unknown".
std::string base_of_layers(int64_t layers) {
  return layers == 16 ? "sd15" : layers == 70 ? "sdxl" : "unknown";
}

int64_t feature_width(const nlohmann::json& shapes) {
  for (const char* k : {"proj.weight", "proj_in.weight", "proj.0.weight"}) {
    if (shapes.contains(k)) return shapes[k][1].get<int64_t>();
  }
  return -1;
}

TEST(GoldenInspect, EmbedVariantsAdapters) {
  const auto c = test::load_case("embed_variants");
  int checked = 0;
  for (const auto& [name, v] : c["variants"].items()) {
    const std::string cls = v["image_proj_class"];
    for (const auto& file : v["checkpoint_files"]) {
      SCOPED_TRACE(name + " " + file.get<std::string>());
      const auto j = inspect_json(test::golden_path("embed_variants/" + file.get<std::string>()));
      EXPECT_EQ(j["kind"], "ip-adapter");
      EXPECT_EQ(j["variant"], variant_of_class(cls));
      if (cls == "MLPProjModel") {
        EXPECT_TRUE(j["num_tokens"].is_null());
      } else {
        EXPECT_EQ(j["num_tokens"], v["num_tokens"]);
      }
      EXPECT_EQ(j["cross_attention_dim"], v["unet_cross_attention_dim"]);
      EXPECT_EQ(j["image_embed_dim"], feature_width(v["image_proj_shapes"]));
      // The layer count of the variant's UNet layout, as the case's map spells it out.
      const int64_t layers =
          static_cast<int64_t>(c["unet_layouts"][v["unet_layout"].get<std::string>()]
                                ["ip_adapter_key_index_to_processor"]
                                    .size());
      EXPECT_EQ(j["ip_layers"], layers);
      EXPECT_EQ(j["base"], base_of_layers(layers));
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

TEST(GoldenInspect, UnetCaseAdaptersCountLayers) {
  const auto c = test::load_case("unet_sd15_ip");
  const int64_t cross = c["unet_config"]["cross_attention_dim"];
  for (const auto& [name, v] : c["variants"].items()) {
    const int64_t layers = static_cast<int64_t>(v["ip_adapter_key_index_to_processor"].size());
    for (const auto& file : v["files"]) {
      SCOPED_TRACE(file.get<std::string>());
      const auto j = inspect_json(test::golden_path("unet_sd15_ip/" + file.get<std::string>()));
      EXPECT_EQ(j["kind"], "ip-adapter");
      EXPECT_EQ(j["variant"], variant_of_class(v["image_proj_class"]));
      EXPECT_EQ(j["ip_layers"], layers);
      EXPECT_EQ(j["base"], base_of_layers(layers));
      EXPECT_EQ(j["cross_attention_dim"], cross);
    }
  }
}

TEST(GoldenInspect, FoldersAreRecognised) {
  EXPECT_EQ(inspect_json(test::golden_path("pipeline_sd15/sd15"))["kind"], "diffusers-pipeline");
  EXPECT_EQ(inspect_json(test::golden_path("clip_vision/image_encoder"))["kind"], "image-encoder");
  EXPECT_EQ(inspect_json(test::golden_path("vae/vae"))["kind"], "model");
  const auto unet = inspect_json(test::golden_path("unet_sd15_ip/unet"));
  EXPECT_EQ(unet["kind"], "model");
  EXPECT_EQ(unet["class"], "UNet2DConditionModel");
}

// Single-file checkpoints: the family (the case's suffix), every model the case's file
// description lists, the dtype it names, and the {'state_dict': ...} wrapper of the .ckpt.
TEST(GoldenInspect, SingleFileCheckpoints) {
  for (const std::string family : {"sd15", "sdxl"}) {
    const std::string name = "single_file_" + family;
    const auto c = test::load_case(name);
    ASSERT_FALSE(c["files"].empty());
    std::string all;  // the .ckpt's description says "(same keys)"
    for (const auto& [file, what] : c["files"].items()) all += what.get<std::string>();
    for (const auto& [file, what] : c["files"].items()) {
      SCOPED_TRACE(file);
      const std::string described = what.get<std::string>();
      const auto j = inspect_json(test::golden_path(name + "/" + file));
      EXPECT_EQ(j["kind"], "sd-checkpoint");
      EXPECT_EQ(j["family"], family);
      int parts = 0;
      for (const auto& [part, prefix] : j["components"].items()) {
        ASSERT_TRUE(prefix.is_string()) << part << " not found";
        EXPECT_TRUE(test::contains(all, prefix.get<std::string>() + "*")) << prefix;
        ++parts;
      }
      EXPECT_EQ(parts, family == "sdxl" ? 4 : 3);
      for (const auto& [dtype, count] : j["dtypes"].items()) {
        EXPECT_TRUE(test::contains(described, dtype)) << dtype;
      }
      EXPECT_EQ(j.contains("wrapper"), test::contains(described, "'state_dict'"));
    }
  }
}

TEST(GoldenInspect, PlainCheckpointAndTensorList) {
  std::string out;
  const std::string path = test::golden_path("vae/vae/diffusion_pytorch_model.safetensors");
  ASSERT_EQ(test::run_cli({"inspect", "--json", path}, &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["kind"], "checkpoint");
  ASSERT_TRUE(j["tensors"].is_array());
  EXPECT_EQ(j["tensors"].size(), j["num_tensors"].get<size_t>());
  const auto& t0 = j["tensors"][0];
  EXPECT_TRUE(t0.contains("name") && t0.contains("dtype") && t0.contains("shape") &&
              t0.contains("bytes"));
}

TEST(Inspect, BadInputGivesCleanError) {
  std::string out;
  EXPECT_EQ(test::run_cli({"inspect", "/nonexistent/file.safetensors"}, &out), 1);
  EXPECT_NE(out.find("no such file"), std::string::npos) << out;
  EXPECT_EQ(test::run_cli({"inspect", test::golden_path("pipeline_sd15/pipeline_sd15.json")}, &out),
            1);
  EXPECT_NE(out.find("error:"), std::string::npos) << out;
}

}  // namespace
}  // namespace ipa
