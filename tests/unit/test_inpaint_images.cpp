// The image operations around inpainting (src/image/inpaint_regions, pil_resize's box
// overload, vae_image) against what PIL 9.4 and diffusers 0.30.3 produce: the fixtures in
// tests/data/pil_inpaint (made by scripts/make-pil-inpaint-fixtures.py) are compared byte for
// byte; the property tests catch a wrong sign or index without them.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <tuple>

#include "image/decode.h"
#include "image/inpaint_regions.h"
#include "image/pil_resize.h"
#include "image/vae_image.h"
#include "test_support.h"

namespace ipa {
namespace {

using image::CropBox;
using image::Image;
using image::ResampleFilter;
using image::ResizeBox;
using nlohmann::json;

const json& cases() {
  static const json j = test::load_case("pil_inpaint");
  return j;
}

Image fixture(const std::string& file) {
  return image::read_image(test::golden_path("pil_inpaint/" + file));
}

Image input(const std::string& name) {
  const json& in = cases().at("inputs").at(name);
  Image img = fixture(in.at("file").get<std::string>());
  EXPECT_EQ(img.width, in.at("width").get<int>()) << name;
  EXPECT_EQ(img.height, in.at("height").get<int>()) << name;
  return img;
}

CropBox box_of(const json& b) {
  return {b.at(0).get<int>(), b.at(1).get<int>(), b.at(2).get<int>(), b.at(3).get<int>()};
}

std::string box_text(const CropBox& b) {
  std::ostringstream s;
  s << "(" << b.x1 << ", " << b.y1 << ", " << b.x2 << ", " << b.y2 << ")";
  return s.str();
}

// Byte-equal images; otherwise how many bytes differ, the largest difference and the first
// differing pixel.
::testing::AssertionResult SameImage(const Image& actual, const Image& expected) {
  if (actual.width != expected.width || actual.height != expected.height) {
    return ::testing::AssertionFailure()
           << "size " << actual.width << "x" << actual.height << ", expected " << expected.width
           << "x" << expected.height;
  }
  size_t differing = 0;
  int max_diff = 0, first = -1;
  for (size_t i = 0; i < actual.rgb.size(); ++i) {
    const int d = std::abs(int(actual.rgb[i]) - int(expected.rgb[i]));
    if (d == 0) continue;
    ++differing;
    max_diff = std::max(max_diff, d);
    if (first < 0) first = static_cast<int>(i);
  }
  if (differing == 0) return ::testing::AssertionSuccess();
  const int px = first / 3, w = actual.width;
  return ::testing::AssertionFailure()
         << differing << " of " << actual.rgb.size() << " bytes differ (max " << max_diff
         << "); first at x=" << px % w << " y=" << px / w << " channel " << first % 3 << ": "
         << int(actual.rgb[first]) << " vs " << int(expected.rgb[first]);
}

Image noise(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  Image img(w, h);
  for (auto& v : img.rgb) v = static_cast<uint8_t>(rng());
  return img;
}

Image constant(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  Image img(w, h);
  for (size_t i = 0; i < img.rgb.size(); i += 3) {
    img.rgb[i] = r;
    img.rgb[i + 1] = g;
    img.rgb[i + 2] = b;
  }
  return img;
}

// ---------------------------------------------------------------------------------------------
// Fixtures: PIL 9.4 / diffusers 0.30.3, byte for byte.

TEST(InpaintImagesPil, GaussianBlurMatchesPil) {
  ASSERT_FALSE(cases().at("blur").empty());
  for (const json& c : cases().at("blur")) {
    const float radius = c.at("radius").get<float>();
    const std::string name = c.at("input").get<std::string>();
    SCOPED_TRACE(name + " radius " + std::to_string(radius));
    EXPECT_TRUE(SameImage(image::gaussian_blur(input(name), radius),
                          fixture(c.at("output").get<std::string>())));
  }
}

TEST(InpaintImagesPil, CropRegionMatchesDiffusers) {
  ASSERT_FALSE(cases().at("crop_region").empty());
  for (const json& c : cases().at("crop_region")) {
    const std::string name = c.at("mask").get<std::string>();
    const int w = c.at("width"), h = c.at("height"), pad = c.at("pad");
    SCOPED_TRACE(name + " " + std::to_string(w) + "x" + std::to_string(h) + " pad " +
                 std::to_string(pad));
    const CropBox got = image::mask_crop_region(input(name), w, h, pad);
    EXPECT_EQ(box_text(got), box_text(box_of(c.at("box"))));
  }
}

TEST(InpaintImagesPil, CropMatchesPil) {
  ASSERT_FALSE(cases().at("crop").empty());
  for (const json& c : cases().at("crop")) {
    const CropBox box = box_of(c.at("box"));
    SCOPED_TRACE(box_text(box));
    EXPECT_TRUE(SameImage(image::crop(input(c.at("input")), box),
                          fixture(c.at("output").get<std::string>())));
  }
}

TEST(InpaintImagesPil, ResizeFillMatchesDiffusers) {
  ASSERT_FALSE(cases().at("fill").empty());
  for (const json& c : cases().at("fill")) {
    const std::string name = c.at("input").get<std::string>();
    const int w = c.at("width"), h = c.at("height");
    Image src = input(name);
    std::string trace = name + " to " + std::to_string(w) + "x" + std::to_string(h);
    if (c.contains("crop")) {
      const CropBox box = box_of(c.at("crop"));
      src = image::crop(src, box);
      trace += " after crop " + box_text(box);
    }
    SCOPED_TRACE(trace);
    EXPECT_TRUE(
        SameImage(image::resize_fill(src, w, h), fixture(c.at("output").get<std::string>())));
  }
}

TEST(InpaintImagesPil, ResizeCropMatchesDiffusers) {
  ASSERT_FALSE(cases().at("resize_crop").empty());
  for (const json& c : cases().at("resize_crop")) {
    const std::string name = c.at("input").get<std::string>();
    const int w = c.at("width"), h = c.at("height");
    SCOPED_TRACE(name + " to " + std::to_string(w) + "x" + std::to_string(h));
    EXPECT_TRUE(SameImage(image::resize_crop(input(name), w, h),
                          fixture(c.at("output").get<std::string>())));
  }
}

TEST(InpaintImagesPil, OverlayMatchesDiffusers) {
  ASSERT_FALSE(cases().at("overlay").empty());
  for (const json& c : cases().at("overlay")) {
    std::optional<CropBox> box;
    if (!c.at("crop").is_null()) box = box_of(c.at("crop"));
    SCOPED_TRACE(c.at("mask").get<std::string>() + " crop " + (box ? box_text(*box) : "none"));
    const Image out = image::overlay_unmasked(input(c.at("mask")), input(c.at("init")),
                                              input(c.at("generated")), box);
    EXPECT_TRUE(SameImage(out, fixture(c.at("output").get<std::string>())));
  }
}

TEST(InpaintImagesPil, ResizeWithBoxMatchesPil) {
  ASSERT_FALSE(cases().at("resize_box").empty());
  for (const json& c : cases().at("resize_box")) {
    const json& b = c.at("box");
    const ResizeBox box{b.at(0).get<double>(), b.at(1).get<double>(), b.at(2).get<double>(),
                        b.at(3).get<double>()};
    const int w = c.at("width"), h = c.at("height");
    SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h) + " box " + b.dump());
    EXPECT_TRUE(
        SameImage(image::pil_resize(input(c.at("input")), w, h, ResampleFilter::kLanczos, box),
                  fixture(c.at("output").get<std::string>())));
  }
}

// ---------------------------------------------------------------------------------------------
// Properties, without fixtures.

TEST(InpaintImagesBlur, ConstantImageStaysConstant) {
  for (const auto& [w, h] : {std::pair{1, 1}, {1, 9}, {9, 1}, {7, 5}, {40, 3}}) {
    const Image img = constant(w, h, 0, 128, 255);
    for (float r : {0.5f, 1.f, 2.f, 3.7f, 8.f, 33.f}) {
      EXPECT_EQ(image::gaussian_blur(img, r), img) << w << "x" << h << " radius " << r;
    }
  }
}

TEST(InpaintImagesBlur, RadiusZeroIsIdentityAndBadRadiiThrow) {
  const Image img = noise(11, 7, 1);
  EXPECT_EQ(image::gaussian_blur(img, 0.f), img);
  EXPECT_THROW(image::gaussian_blur(img, -1.f), Error);
  EXPECT_THROW(image::gaussian_blur(img, std::numeric_limits<float>::quiet_NaN()), Error);
  EXPECT_THROW(image::gaussian_blur(img, std::numeric_limits<float>::infinity()), Error);
}

TEST(InpaintImagesBlur, SymmetricAndChannelIndependent) {
  // A single bright pixel in the middle spreads symmetrically; each channel blurs on its own.
  Image img(15, 11);
  std::copy_n(std::array<uint8_t, 3>{255, 0, 100}.data(), 3, img.pixel(7, 5));
  const Image out = image::gaussian_blur(img, 2.f);
  for (int y = 0; y < 11; ++y) {
    for (int x = 0; x < 15; ++x) {
      for (int c = 0; c < 3; ++c) {
        ASSERT_EQ(out.pixel(x, y)[c], out.pixel(14 - x, y)[c]) << x << "," << y;
        ASSERT_EQ(out.pixel(x, y)[c], out.pixel(x, 10 - y)[c]) << x << "," << y;
      }
      ASSERT_EQ(out.pixel(x, y)[1], 0);
    }
  }
  EXPECT_GT(out.pixel(7, 5)[0], out.pixel(8, 5)[0]);
  EXPECT_GT(out.pixel(8, 5)[0], out.pixel(10, 5)[0]);
  EXPECT_GT(out.pixel(7, 5)[0], out.pixel(7, 6)[0]);
}

TEST(InpaintImagesCrop, RegionHoldsTheMaskAndStaysInside) {
  Image mask(40, 30);
  mask.pixel(5, 21)[0] = 1;    // luma 0: ignored
  mask.pixel(12, 8)[1] = 200;  // the region
  mask.pixel(20, 14)[2] = 255;
  const CropBox tight = image::mask_crop_region(mask, 9, 7, 0);
  EXPECT_EQ(box_text(tight), box_text({12, 8, 21, 15}));  // 9x7: the ratio already fits
  for (const auto& [w, h, pad] : {std::tuple{64, 16, 0}, {16, 64, 0}, {8, 8, 3}, {512, 512, 100}}) {
    const CropBox b = image::mask_crop_region(mask, w, h, pad);
    SCOPED_TRACE(box_text(b));
    EXPECT_LE(b.x1, 12);
    EXPECT_LE(b.y1, 8);
    EXPECT_GE(b.x2, 21);
    EXPECT_GE(b.y2, 15);
    EXPECT_GE(b.x1, 0);
    EXPECT_GE(b.y1, 0);
    EXPECT_LE(b.x2, 40);
    EXPECT_LE(b.y2, 30);
  }
  EXPECT_EQ(image::mask_crop_region(Image(8, 8), 4, 4, 2).width(), 0);  // all black
}

TEST(InpaintImagesCrop, CropCopiesAndFillsOutsideWithBlack) {
  const Image img = noise(9, 6, 2);
  const Image c = image::crop(img, {-1, 2, 3, 8});
  ASSERT_EQ(c.width, 4);
  ASSERT_EQ(c.height, 6);
  for (int y = 0; y < 6; ++y) {
    for (int x = 0; x < 4; ++x) {
      const int sx = x - 1, sy = y + 2;
      const bool inside = sx >= 0 && sy < 6;
      for (int ch = 0; ch < 3; ++ch) {
        EXPECT_EQ(c.pixel(x, y)[ch], inside ? img.pixel(sx, sy)[ch] : 0) << x << "," << y;
      }
    }
  }
}

TEST(InpaintImagesResize, SameSizeAndSameRatioKeepTheImage) {
  const Image img = noise(12, 8, 3);
  EXPECT_EQ(image::resize_fill(img, 12, 8), img);
  EXPECT_EQ(image::resize_crop(img, 12, 8), img);
  EXPECT_EQ(image::pil_resize(img, 12, 8, ResampleFilter::kLanczos, {0, 0, 12, 8}), img);
  // An integer box of the output's size is a crop (PIL takes that path; a unit-scale Lanczos
  // gives the same bytes).
  EXPECT_EQ(image::pil_resize(img, 5, 4, ResampleFilter::kLanczos, {3, 2, 8, 6}),
            image::crop(img, {3, 2, 8, 6}));
  EXPECT_THROW(image::pil_resize(img, 5, 4, ResampleFilter::kLanczos, {3, 2, 13, 6}), Error);
  EXPECT_THROW(image::pil_resize(img, 5, 4, ResampleFilter::kLanczos, {4, 2, 3, 6}), Error);
}

TEST(InpaintImagesResize, FillStretchesTheEdgesOfAConstantImage) {
  // Constant image: every band (centre and both fills) has its colour.
  const Image img = constant(10, 10, 30, 60, 90);
  EXPECT_EQ(image::resize_fill(img, 20, 8), constant(20, 8, 30, 60, 90));
  EXPECT_EQ(image::resize_fill(img, 6, 16), constant(6, 16, 30, 60, 90));
  // 15 rows: two bands of 15 / 2 − 6 / 2 = 4 around the 6 rows leave the last row black, as in
  // diffusers.
  Image odd = constant(6, 15, 30, 60, 90);
  std::fill_n(odd.row(14), odd.row_bytes(), uint8_t{0});
  EXPECT_EQ(image::resize_fill(img, 6, 15), odd);
  EXPECT_EQ(image::resize_crop(img, 20, 8), constant(20, 8, 30, 60, 90));
  EXPECT_EQ(image::resize_crop(img, 6, 15), constant(6, 15, 30, 60, 90));
}

TEST(InpaintImagesOverlay, WhiteMaskGivesGeneratedBlackMaskGivesOriginal) {
  const Image init = noise(13, 9, 4), generated = noise(13, 9, 5);
  const Image white = constant(13, 9, 255, 255, 255), black(13, 9);
  EXPECT_EQ(image::overlay_unmasked(white, init, generated, std::nullopt), generated);
  EXPECT_EQ(image::overlay_unmasked(black, init, generated, std::nullopt), init);
  // With a crop: the generated image resized into the box (the full image here: unchanged);
  // black outside a smaller box.
  EXPECT_EQ(image::overlay_unmasked(white, init, generated, CropBox{0, 0, 13, 9}), generated);
  EXPECT_EQ(image::overlay_unmasked(black, init, generated, CropBox{2, 1, 7, 9}), init);
  const Image boxed = image::overlay_unmasked(white, init, generated, CropBox{2, 1, 7, 9});
  EXPECT_EQ(image::crop(boxed, {2, 1, 7, 9}), image::resize_crop(generated, 5, 8));
  EXPECT_EQ(image::crop(boxed, {0, 0, 2, 9}), Image(2, 9));
  EXPECT_EQ(image::crop(boxed, {7, 0, 13, 9}), Image(6, 9));
  EXPECT_EQ(image::crop(boxed, {2, 0, 7, 1}), Image(5, 1));
}

TEST(InpaintImagesOverlay, GreyMaskBlendsBetween) {
  const Image init = constant(4, 3, 200, 0, 100), generated = constant(4, 3, 0, 200, 100);
  const Image out =
      image::overlay_unmasked(constant(4, 3, 128, 128, 128), init, generated, std::nullopt);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 4; ++x) {
      const uint8_t* p = out.pixel(x, y);
      EXPECT_NEAR(p[0], 100, 2);  // alpha 127 of the original
      EXPECT_NEAR(p[1], 100, 2);
      EXPECT_EQ(p[2], 100);
    }
  }
  EXPECT_THROW(image::overlay_unmasked(Image(4, 4), init, generated, std::nullopt), Error);
  EXPECT_THROW(image::overlay_unmasked(Image(4, 3), init, Image(5, 3), std::nullopt), Error);
}

TEST(InpaintImagesVae, PixelsMapToMinusOneOne) {
  Image img(3, 2);
  for (int x = 0; x < 3; ++x) {
    std::fill_n(img.pixel(x, 0), 3, uint8_t{0});
    std::fill_n(img.pixel(x, 1), 3, uint8_t{255});
  }
  img.pixel(1, 0)[1] = 51;  // 0.2 → −0.6
  const Tensor t = image::vae_pixels(img, 3, 2);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 2, 3}));
  const float* p = t.data<float>();
  for (int c = 0; c < 3; ++c) {
    for (int x = 0; x < 3; ++x) {
      if (!(c == 1 && x == 1)) {
        EXPECT_EQ(p[c * 6 + x], -1.f) << c << "," << x;
      }
      EXPECT_EQ(p[c * 6 + 3 + x], 1.f) << c << "," << x;
    }
  }
  EXPECT_NEAR(p[6 + 1], -0.6f, 1e-6f);
  const Tensor u = image::unit_pixels(img, 3, 2);
  EXPECT_EQ(u.data<float>()[0], 0.f);
  EXPECT_EQ(u.data<float>()[3], 1.f);
  EXPECT_NEAR(u.data<float>()[6 + 1], 0.2f, 1e-7f);
}

TEST(InpaintImagesVae, ResizesOnlyWhenTheSizeDiffers) {
  const Image img = noise(10, 6, 6);
  EXPECT_EQ(image::resized_to(img, 10, 6), img);
  const Image small = image::pil_resize(img, 8, 4, ResampleFilter::kLanczos);
  EXPECT_EQ(image::resized_to(img, 8, 4), small);
  const Tensor a = image::vae_pixels(img, 8, 4), b = image::vae_pixels(small, 8, 4);
  ASSERT_EQ(a.shape(), (Shape{1, 3, 4, 8}));
  EXPECT_TRUE(test::AllCloseAbs(a, b, 0.0));
  // Planar layout: channel c of pixel (x, y) at [0, c, y, x].
  const Tensor t = image::vae_pixels(img, 10, 6);
  EXPECT_EQ(t.data<float>()[2 * 60 + 4 * 10 + 7], img.pixel(7, 4)[2] / 255.f * 2.f - 1.f);
}

TEST(InpaintImagesVae, RoundedDownSize) {
  const image::PixelSize s = image::rounded_down_size(Image(517, 64), 8);
  EXPECT_EQ(s.width, 512);
  EXPECT_EQ(s.height, 64);
}

}  // namespace
}  // namespace ipa
