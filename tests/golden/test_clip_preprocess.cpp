// CLIP preprocessing against transformers' CLIPImageProcessor outputs. The images, their
// golden tensors and the processor settings all come from each case's JSON, so the test runs
// unchanged on any golden tree with these cases.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "image/clip_preprocess.h"
#include "image/decode.h"
#include "test_support.h"

namespace ipa {
namespace {

namespace fs = std::filesystem;
using image::ClipPreprocessConfig;

struct GoldenImage {
  std::string file;         // absolute path
  std::string pixel_key;    // golden pixel_values tensor
  std::string resized_key;  // golden resized+cropped uint8 values (may be empty)
};

struct GoldenCase {
  std::string name;
  std::vector<GoldenImage> images;
  std::vector<std::pair<std::string, ClipPreprocessConfig>> configs;  // label, config
};

std::string find_image(const fs::path& case_dir, const std::string& file) {
  for (const fs::path& p : {case_dir / file, case_dir / "images" / file})
    if (fs::exists(p)) return p.string();
  ADD_FAILURE() << "image " << file << " not found under " << case_dir;
  return (case_dir / file).string();
}

// Both spellings of the case JSON: a list of {name, file} with "<name>.pixel_values" tensors,
// or a map file -> {tensor}.
GoldenCase load_case(const std::string& name) {
  GoldenCase gc;
  gc.name = name;
  const nlohmann::json j = test::load_case(name);
  const fs::path dir = fs::path(test::golden_dir()) / name;
  const nlohmann::json tensors = j.value("tensors", nlohmann::json::object());
  const nlohmann::json& images = j.at("images");
  if (images.is_array()) {
    for (const auto& e : images) {
      const std::string n = e.at("name").get<std::string>();
      GoldenImage gi{find_image(dir, e.at("file").get<std::string>()), n + ".pixel_values", ""};
      if (tensors.contains(n + ".resized_cropped_u8")) gi.resized_key = n + ".resized_cropped_u8";
      gc.images.push_back(gi);
    }
  } else {
    for (const auto& [file, e] : images.items())
      gc.images.push_back({find_image(dir, file), e.at("tensor").get<std::string>(), ""});
  }
  // The processor the reference ran: its dict when recorded, CLIPImageProcessor() otherwise;
  // and the preprocessor_config.json that is said to give identical results.
  if (j.contains("processor")) {
    gc.configs.emplace_back("processor dict",
                            ClipPreprocessConfig::from_json(j["processor"], name + ".json"));
  } else {
    gc.configs.emplace_back("defaults", ClipPreprocessConfig{});
  }
  if (j.contains("preprocessor_config")) {
    std::istringstream words(j["preprocessor_config"].get<std::string>());
    std::string rel;
    words >> rel;
    const fs::path p = dir / rel;
    EXPECT_TRUE(fs::exists(p)) << p;
    if (fs::exists(p)) gc.configs.emplace_back(rel, ClipPreprocessConfig::load(p.string()));
  }
  return gc;
}

Tensor raw_values(const image::Image& img) {
  ClipPreprocessConfig raw;
  raw.do_rescale = raw.do_normalize = false;
  return image::clip_normalize(img, raw).unsqueeze(0);
}

void check_case(const std::string& name) {
  const GoldenCase gc = load_case(name);
  ASSERT_FALSE(gc.images.empty()) << name << " lists no images";
  const TensorFile& golden = test::load_golden(name);
  image::DecodeOptions opts;
  opts.apply_exif_orientation = false;  // the reference opened the files with a bare Image.open
  for (const auto& [label, cfg] : gc.configs) {
    std::vector<image::Image> decoded;
    std::vector<Tensor> singles;
    for (const GoldenImage& gi : gc.images) {
      SCOPED_TRACE(gi.file + " with " + label);
      decoded.push_back(image::read_image(gi.file, opts));
      if (!gi.resized_key.empty()) {
        // The PIL resize + crop must be bit-exact.
        EXPECT_TRUE(test::AllCloseAbs(raw_values(image::clip_resize_and_crop(decoded.back(), cfg)),
                                      test::golden_tensor(golden, gi.resized_key), 0.0));
      }
      singles.push_back(image::clip_preprocess(decoded.back(), cfg));
      EXPECT_TRUE(
          test::AllCloseAbs(singles.back(), test::golden_tensor(golden, gi.pixel_key), 1e-6));
    }
    // One batched call gives the same rows as single calls.
    const Tensor batch = image::clip_preprocess(decoded, cfg);
    ASSERT_EQ(batch.size(0), int64_t(singles.size()));
    for (size_t i = 0; i < singles.size(); ++i)
      EXPECT_TRUE(test::AllCloseAbs(batch.select(0, int64_t(i)).unsqueeze(0), singles[i], 0.0));
  }
}

TEST(GoldenClipPreprocess, SyntheticImages) {
  check_case("clip_preprocess");
}

TEST(GoldenClipPreprocess, RealPhotographs) {
  check_case("clip_preprocess_real");
}

}  // namespace
}  // namespace ipa
