// CLIPImageProcessor semantics that the golden cases do not pin down: output sizes, crop
// offsets and zero padding, config parsing, the float64/float32 arithmetic, squash mode.
#include <gtest/gtest.h>

#include <random>

#include "image/clip_preprocess.h"
#include "test_support.h"

namespace ipa {
namespace {

using image::ClipPreprocessConfig;
using image::ClipResizeMode;
using image::Image;

Image gradient(int w, int h) {
  Image img(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = img.pixel(x, y);
      p[0] = uint8_t(x), p[1] = uint8_t(y), p[2] = uint8_t(x + y);
    }
  return img;
}

TEST(ClipPreprocess, ShortestEdgeSizes) {
  // long side = int(224 * long / short), as transformers computes it.
  ClipPreprocessConfig cfg;
  cfg.do_center_crop = false;
  const struct {
    int w, h, ew, eh;
  } cases[] = {{300, 200, 336, 224},  {200, 300, 224, 336}, {97, 61, 356, 224},
               {764, 1146, 224, 336}, {640, 480, 298, 224}, {100, 100, 224, 224},
               {333, 1000, 224, 672}, {1000, 333, 672, 224}};
  for (const auto& c : cases) {
    const Image r = image::clip_resize_and_crop(gradient(c.w, c.h), cfg);
    EXPECT_EQ(r.width, c.ew) << c.w << "x" << c.h;
    EXPECT_EQ(r.height, c.eh) << c.w << "x" << c.h;
  }
}

TEST(ClipPreprocess, CenterCropOffsetsAndZeroPadding) {
  ClipPreprocessConfig cfg;
  cfg.do_resize = false;
  cfg.crop_height = 4;
  cfg.crop_width = 3;
  // Larger: window starts at (size - crop) // 2.
  const Image big = image::clip_resize_and_crop(gradient(10, 9), cfg);
  ASSERT_EQ(big.width, 3);
  ASSERT_EQ(big.height, 4);
  EXPECT_EQ(big.pixel(0, 0)[0], 3);  // (10 - 3) // 2
  EXPECT_EQ(big.pixel(0, 0)[1], 2);  // (9 - 4) // 2
  // Smaller: zero padding, image placed at ceil((crop - size) / 2).
  cfg.crop_height = 6;
  cfg.crop_width = 5;
  const Image small = image::clip_resize_and_crop(gradient(2, 3), cfg);
  ASSERT_EQ(small.width, 5);
  ASSERT_EQ(small.height, 6);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 5; ++x) {
      const bool inside = x >= 2 && x < 4 && y >= 2 && y < 5;
      const uint8_t* p = small.pixel(x, y);
      if (inside) {
        EXPECT_EQ(p[0], x - 2);
        EXPECT_EQ(p[1], y - 2);
      } else {
        EXPECT_EQ(p[0] | p[1] | p[2], 0) << x << "," << y;
      }
    }
  // Mixed: wider than the crop, shorter than it.
  cfg.crop_height = 5;
  cfg.crop_width = 2;
  const Image mixed = image::clip_resize_and_crop(gradient(7, 2), cfg);
  EXPECT_EQ(mixed.pixel(0, 2)[0], 2);  // (7 - 2) // 2
  EXPECT_EQ(mixed.pixel(0, 2)[1], 0);  // first image row at ceil(3 / 2) = 2
  EXPECT_EQ(mixed.pixel(0, 1)[0], 0);  // padding
}

TEST(ClipPreprocess, RescaleInFloat64ThenNormaliseInFloat32) {
  ClipPreprocessConfig cfg;
  Image img(256, 1);
  for (int v = 0; v < 256; ++v) std::fill_n(img.pixel(v, 0), 3, uint8_t(v));
  const Tensor t = image::clip_normalize(img, cfg);
  ASSERT_EQ(t.shape(), (Shape{3, 1, 256}));
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) {
      const float scaled = static_cast<float>(static_cast<double>(v) * (1.0 / 255.0));
      const float expected =
          (scaled - static_cast<float>(cfg.image_mean[c])) / static_cast<float>(cfg.image_std[c]);
      ASSERT_EQ(t.item_f32({c, 0, v}), expected) << c << " " << v;
    }
  // The float32 product would differ for some values: check the test can tell them apart.
  int differ = 0;
  for (int v = 0; v < 256; ++v)
    differ += static_cast<float>(v * (1.0 / 255.0)) != static_cast<float>(v) * (1.0f / 255.0f);
  EXPECT_GT(differ, 0);
}

TEST(ClipPreprocess, OutputIsNchwFloat32) {
  const Tensor t = image::clip_preprocess(gradient(300, 200), ClipPreprocessConfig{});
  EXPECT_EQ(t.dtype(), DType::F32);
  EXPECT_EQ(t.shape(), (Shape{1, 3, 224, 224}));
  const Tensor b = image::clip_preprocess({gradient(300, 200), gradient(50, 80)}, {});
  EXPECT_EQ(b.shape(), (Shape{2, 3, 224, 224}));
  ClipPreprocessConfig no_crop;
  no_crop.do_center_crop = false;
  EXPECT_THROW(image::clip_preprocess({gradient(300, 200), gradient(50, 80)}, no_crop), Error);
}

TEST(ClipPreprocess, SquashResizesTheWholeImageFirst) {
  const Image src = gradient(300, 120);
  ClipPreprocessConfig cfg;
  const Image squashed = image::clip_resize_and_crop(src, cfg, ClipResizeMode::kSquash);
  EXPECT_EQ(squashed, image::pil_resize(src, 224, 224, image::ResampleFilter::kBicubic));
  EXPECT_NE(squashed, image::clip_resize_and_crop(src, cfg));
  // With a shortest edge larger than the crop, squash then runs the processor as usual.
  cfg.shortest_edge = 256;
  const Image two_step = image::clip_resize_and_crop(src, cfg, ClipResizeMode::kSquash);
  ClipPreprocessConfig plain = cfg;
  EXPECT_EQ(two_step,
            image::clip_resize_and_crop(
                image::pil_resize(src, 224, 224, image::ResampleFilter::kBicubic), plain));
}

TEST(ClipPreprocess, ConfigSpellings) {
  // The old feature-extractor spelling (ints) and the new one (dicts) mean the same.
  const auto old_style = ClipPreprocessConfig::from_json(
      nlohmann::json::parse(R"({"size": 256, "crop_size": 240, "resample": 2,
        "image_mean": [0.5, 0.5, 0.5], "image_std": 0.5, "do_center_crop": true})"),
      "old.json");
  EXPECT_EQ(old_style.shortest_edge, 256);
  EXPECT_EQ(old_style.resize_height, 0);
  EXPECT_EQ(old_style.crop_height, 240);
  EXPECT_EQ(old_style.crop_width, 240);
  EXPECT_EQ(old_style.resample, image::ResampleFilter::kBilinear);
  EXPECT_EQ(old_style.image_std[2], 0.5);
  const auto new_style =
      ClipPreprocessConfig::from_json(nlohmann::json::parse(R"({"size": {"shortest_edge": 256},
        "crop_size": {"height": 240, "width": 200}, "rescale_factor": 0.5, "do_normalize": false})"),
                                      "new.json");
  EXPECT_EQ(new_style.shortest_edge, 256);
  EXPECT_EQ(new_style.crop_height, 240);
  EXPECT_EQ(new_style.crop_width, 200);
  EXPECT_EQ(new_style.rescale_factor, 0.5);
  EXPECT_FALSE(new_style.do_normalize);
  const auto fixed = ClipPreprocessConfig::from_json(
      nlohmann::json::parse(R"({"size": {"height": 300, "width": 100}})"), "fixed.json");
  EXPECT_EQ(fixed.resize_height, 300);
  EXPECT_EQ(fixed.resize_width, 100);
  const Image r = image::clip_resize_and_crop(gradient(50, 50), [&] {
    auto c = fixed;
    c.do_center_crop = false;
    return c;
  }());
  EXPECT_EQ(r.width, 100);
  EXPECT_EQ(r.height, 300);
  const auto square = ClipPreprocessConfig::from_json(
      nlohmann::json::parse(R"({"size": 224, "use_square_size": true})"), "kosmos.json");
  EXPECT_EQ(square.resize_height, 224);
  EXPECT_EQ(square.resize_width, 224);
  // Defaults: CLIPImageProcessor().
  const auto defaults = ClipPreprocessConfig::from_json(nlohmann::json::object(), "empty.json");
  EXPECT_EQ(defaults.shortest_edge, 224);
  EXPECT_EQ(defaults.crop_height, 224);
  EXPECT_EQ(defaults.resample, image::ResampleFilter::kBicubic);
  EXPECT_FLOAT_EQ(defaults.image_mean[0], 0.48145466f);
  const auto sized = ClipPreprocessConfig::for_image_size(336);
  EXPECT_EQ(sized.shortest_edge, 336);
  EXPECT_EQ(sized.crop_width, 336);
}

TEST(ClipPreprocess, BadConfigsAreErrorsNamingTheFile) {
  const char* bad[] = {
      R"({"size": {"longest_edge": 224}})",
      R"({"size": 0})",
      R"({"size": "224"})",
      R"({"crop_size": {"shortest_edge": 224}})",
      R"({"resample": 0})",
      R"({"resample": 9})",
      R"({"image_mean": [0.5, 0.5]})",
      R"({"image_std": [1, 0, 1]})",
      R"({"do_resize": "yes"})",
      R"([1, 2])",
  };
  for (const char* text : bad) {
    try {
      ClipPreprocessConfig::from_json(nlohmann::json::parse(text), "pp.json");
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("pp.json"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(ClipPreprocessConfig::load("/nonexistent/preprocessor_config.json"), Error);
}

}  // namespace
}  // namespace ipa
