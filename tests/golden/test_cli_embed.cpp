// `ipadapter embed` reproduces tencent-ailab's get_image_embeds for every variant class of the
// embed_variants case (basic, plus, full-face, SDXL basic on the wider encoder, SDXL plus), from
// .bin and .safetensors, for one image and two. Tolerance 1e-4·max|expected| (fp32 modules).
#include <gtest/gtest.h>

#include <filesystem>

#include "formats/safetensors.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace ipa {
namespace {

std::vector<std::string> image_args(const nlohmann::json& c, const std::string& which) {
  std::vector<std::string> args;
  for (const auto& img : c["images"]) {
    if (which == "both" || which == img["key"].get<std::string>()) {
      args.push_back("--image");
      args.push_back(test::golden_path("embed_variants/" + img["file"].get<std::string>()));
    }
  }
  return args;
}

TEST(GoldenCliEmbed, EveryVariantEveryFormat) {
  const auto c = test::load_case("embed_variants");
  const TensorFile& g = test::load_golden("embed_variants");
  const std::string out = test::temp_dir("embed") + "/e.safetensors";
  int checked = 0;
  for (const auto& [name, v] : c["variants"].items()) {
    std::string encoder = v["image_encoder"];
    if (!encoder.empty() && encoder.back() == '/') encoder.pop_back();
    for (const auto& file : v["checkpoint_files"]) {
      for (const std::string which : {"img0", "img1", "both"}) {
        SCOPED_TRACE(name + " " + file.get<std::string>() + " " + which);
        std::vector<std::string> args = {
            "embed", "--image-encoder", test::golden_path("embed_variants/" + encoder),
            "--ip-adapter", test::golden_path("embed_variants/" + file.get<std::string>()),
            "--out", out, "--save-clip"};
        for (const auto& a : image_args(c, which)) args.push_back(a);
        std::string text;
        ASSERT_EQ(test::run_cli(args, &text), 0) << text;
        const TensorFile got = read_safetensors(out);
        for (const std::string key : {"clip_feature", "uncond_clip_feature", "image_prompt_embeds",
                                      "uncond_image_prompt_embeds"}) {
          const Tensor* t = got.find(key);
          ASSERT_NE(t, nullptr) << key;
          EXPECT_EQ(t->dtype(), DType::F32);
          EXPECT_TRUE(test::AllCloseRel(*t, test::golden_tensor(g, name + "." + which + "." + key),
                                        1e-4))
              << key;
        }
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 6);
}

// An h94/IP-Adapter-style tree (models/…, sdxl_models/…, each with image_encoder/): the
// encoder is found by width, so the `_vit-h` SDXL adapter takes models/image_encoder.
TEST(GoldenCliEmbed, FindsTheEncoderInTheH94Layout) {
  const auto c = test::load_case("embed_variants");
  const fs::path root = test::temp_dir("h94");
  fs::create_directories(root / "models");
  fs::create_directories(root / "sdxl_models");
  std::map<std::string, std::string> encoder_of_file;
  for (const auto& [name, v] : c["variants"].items()) {
    std::string encoder = v["image_encoder"];
    if (!encoder.empty() && encoder.back() == '/') encoder.pop_back();
    // Released layout: SDXL adapters live in sdxl_models/, whose encoder is the wide one.
    const bool sdxl = v["unet_layout"].get<std::string>() != "sd15";
    const fs::path folder = root / (sdxl ? "sdxl_models" : "models");
    for (const auto& f : v["checkpoint_files"]) {
      fs::copy_file(test::golden_path("embed_variants/" + f.get<std::string>()),
                    folder / f.get<std::string>(), fs::copy_options::overwrite_existing);
      encoder_of_file[(folder / f.get<std::string>()).string()] = encoder;
    }
  }
  fs::copy(test::golden_path("embed_variants/image_encoder"), root / "models/image_encoder");
  fs::copy(test::golden_path("embed_variants/image_encoder_g"), root / "sdxl_models/image_encoder");
  const std::map<std::string, std::string> folder_of_encoder = {
      {"image_encoder", (root / "models/image_encoder").string()},
      {"image_encoder_g", (root / "sdxl_models/image_encoder").string()}};
  const std::string out = (root / "e.safetensors").string();
  for (const auto& [file, encoder] : encoder_of_file) {
    SCOPED_TRACE(file);
    std::string text;
    ASSERT_EQ(test::run_cli({"embed", "--ip-adapter", file, "--out", out, "--image",
                             test::golden_path("embed_variants/" +
                                               c["images"][0]["file"].get<std::string>())},
                            &text),
              0)
        << text;
    EXPECT_NE(text.find(folder_of_encoder.at(encoder)), std::string::npos) << text;
  }
}

TEST(CliEmbed, WrongEncoderSaysWhichOneItNeeds) {
  const auto c = test::load_case("embed_variants");
  const std::string out = test::temp_dir("embed_bad") + "/e.safetensors";
  // The image's file name (it carries the image's size) comes from the case.
  const std::string image =
      test::golden_path("embed_variants/" + c["images"][0]["file"].get<std::string>());
  std::string text;
  // The SDXL basic adapter takes the wide encoder's image_embeds; give it the narrow one.
  EXPECT_EQ(test::run_cli({"embed", "--ip-adapter",
                           test::golden_path("embed_variants/ip-adapter_sdxl.safetensors"),
                           "--image-encoder", test::golden_path("embed_variants/image_encoder"),
                           "--image", image, "--out", out},
                          &text),
            1);
  EXPECT_NE(text.find("does not fit"), std::string::npos) << text;
  // Both widths, as the two encoders' configs give them.
  const auto width = [&](const std::string& encoder) {
    return c["image_encoders"][encoder]["config"]["projection_dim"].get<int64_t>();
  };
  ASSERT_NE(width("image_encoder"), width("image_encoder_g"));
  EXPECT_NE(text.find("image_embeds of width " + std::to_string(width("image_encoder_g"))),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("encoder gives width " + std::to_string(width("image_encoder"))),
            std::string::npos)
      << text;
  // Unreadable image, zero-byte image.
  const std::string empty = test::temp_dir("embed_bad") + "/empty.png";
  { FILE* f = std::fopen(empty.c_str(), "wb"); std::fclose(f); }
  for (const std::string& bad : {std::string("/nonexistent.png"), empty}) {
    EXPECT_EQ(test::run_cli({"embed", "--ip-adapter",
                             test::golden_path("embed_variants/ip-adapter_sd15.safetensors"),
                             "--image-encoder", test::golden_path("embed_variants/image_encoder"),
                             "--image", bad, "--out", out},
                            &text),
              1);
    EXPECT_NE(text.find(bad), std::string::npos) << text;
  }
  // No encoder given and none beside the adapter.
  const fs::path lonely = fs::path(test::temp_dir("embed_lonely")) / "a";
  fs::create_directories(lonely);
  fs::copy_file(test::golden_path("embed_variants/ip-adapter_sd15.safetensors"),
                lonely / "ip-adapter_sd15.safetensors");
  EXPECT_EQ(test::run_cli({"embed", "--ip-adapter", (lonely / "ip-adapter_sd15.safetensors").string(),
                           "--image", image, "--out", out},
                          &text),
            1);
  EXPECT_NE(text.find("--image-encoder"), std::string::npos) << text;
}

}  // namespace
}  // namespace ipa
