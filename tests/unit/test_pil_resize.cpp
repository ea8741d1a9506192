// PIL-exact resize against a plain transcription of the same fixed-point algorithm, plus the
// properties any correct implementation has. (The real check is the CLIP golden data, whose
// resized uint8 images come from PIL itself.)
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "base/error.h"
#include "image/pil_resize.h"

namespace ipa {
namespace {

using image::Image;
using image::ResampleFilter;

double ref_filter(ResampleFilter f, double x) {
  const double ax = std::fabs(x);
  switch (f) {
    case ResampleFilter::kBox:
      return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
    case ResampleFilter::kBilinear:
      return ax < 1.0 ? 1.0 - ax : 0.0;
    case ResampleFilter::kBicubic:
      if (ax < 1.0) return (1.5 * ax - 2.5) * ax * ax + 1;
      if (ax < 2.0) return (((ax - 5) * ax + 8) * ax - 4) * -0.5;
      return 0.0;
    case ResampleFilter::kHamming: {
      if (ax == 0.0) return 1.0;
      if (ax >= 1.0) return 0.0;
      const double t = ax * M_PI;
      return std::sin(t) / t * (double(0.54f) + double(0.46f) * std::cos(t));
    }
    case ResampleFilter::kLanczos: {
      if (!(-3.0 <= x && x < 3.0)) return 0.0;
      auto sinc = [](double v) { return v == 0.0 ? 1.0 : std::sin(v * M_PI) / (v * M_PI); };
      return sinc(x) * sinc(x / 3);
    }
    default:
      return 0.0;
  }
}

double ref_support(ResampleFilter f) {
  switch (f) {
    case ResampleFilter::kBox:
      return 0.5;
    case ResampleFilter::kBilinear:
    case ResampleFilter::kHamming:
      return 1.0;
    case ResampleFilter::kBicubic:
      return 2.0;
    default:
      return 3.0;
  }
}

// One 1-D pass over `n` samples of stride `stride`, written as directly as possible: for each
// output sample, float weights over the (antialiasing-widened) support, normalised, rounded to
// 22-bit fixed point, accumulated with a rounding half, shifted and clamped.
std::vector<int> ref_pass(const std::vector<int>& in, int in_size, int out_size, ResampleFilter f) {
  const double scale = double(in_size) / out_size;
  const double fs = std::max(scale, 1.0);
  const double support = ref_support(f) * fs;
  std::vector<int> out(out_size);
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    const int lo = std::max(0, int(center - support + 0.5));
    const int hi = std::min(in_size, int(center + support + 0.5));
    std::vector<double> w;
    double sum = 0;
    for (int i = lo; i < hi; ++i) {
      w.push_back(ref_filter(f, (i - center + 0.5) * (1.0 / fs)));
      sum += w.back();
    }
    int64_t acc = 1 << 21;
    for (int i = lo; i < hi; ++i) {
      const double k = sum != 0.0 ? w[i - lo] / sum : w[i - lo];
      const int64_t kf = int64_t(k < 0 ? k * (1 << 22) - 0.5 : k * (1 << 22) + 0.5);
      acc += in[i] * kf;
    }
    out[o] = int(std::clamp<int64_t>(acc >> 22, 0, 255));
  }
  return out;
}

Image ref_resize(const Image& src, int w, int h, ResampleFilter f) {
  Image tmp = src;
  if (w != src.width) {
    tmp = Image(w, src.height);
    for (int y = 0; y < src.height; ++y)
      for (int c = 0; c < 3; ++c) {
        std::vector<int> line(src.width);
        for (int x = 0; x < src.width; ++x) line[x] = src.pixel(x, y)[c];
        const std::vector<int> r = ref_pass(line, src.width, w, f);
        for (int x = 0; x < w; ++x) tmp.pixel(x, y)[c] = uint8_t(r[x]);
      }
  }
  if (h == src.height) return tmp;
  Image out(w, h);
  for (int x = 0; x < w; ++x)
    for (int c = 0; c < 3; ++c) {
      std::vector<int> line(src.height);
      for (int y = 0; y < src.height; ++y) line[y] = tmp.pixel(x, y)[c];
      const std::vector<int> r = ref_pass(line, src.height, h, f);
      for (int y = 0; y < h; ++y) out.pixel(x, y)[c] = uint8_t(r[y]);
    }
  return out;
}

Image random_image(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  Image img(w, h);
  for (auto& v : img.rgb) v = static_cast<uint8_t>(rng());
  return img;
}

TEST(PilResize, MatchesReferenceForEveryFilterAndDirection) {
  const Image src = random_image(37, 23, 1);
  const std::pair<int, int> sizes[] = {{37, 23}, {18, 11}, {5, 3}, {74, 46},   {100, 9},
                                       {37, 60}, {12, 23}, {1, 1}, {224, 139}, {36, 22}};
  for (ResampleFilter f :
       {ResampleFilter::kBicubic, ResampleFilter::kBilinear, ResampleFilter::kLanczos,
        ResampleFilter::kBox, ResampleFilter::kHamming}) {
    for (const auto& [w, h] : sizes) {
      SCOPED_TRACE(std::string(image::resample_filter_name(f)) + " to " + std::to_string(w) + "x" +
                   std::to_string(h));
      EXPECT_EQ(image::pil_resize(src, w, h, f), ref_resize(src, w, h, f));
    }
  }
}

TEST(PilResize, ConstantImagesStayConstant) {
  Image flat(41, 17);
  for (size_t i = 0; i < flat.rgb.size(); i += 3) {
    flat.rgb[i] = 0;
    flat.rgb[i + 1] = 128;
    flat.rgb[i + 2] = 255;
  }
  for (ResampleFilter f :
       {ResampleFilter::kBicubic, ResampleFilter::kLanczos, ResampleFilter::kBilinear,
        ResampleFilter::kBox, ResampleFilter::kHamming}) {
    const Image r = image::pil_resize(flat, 13, 29, f);
    for (size_t i = 0; i < r.rgb.size(); i += 3) {
      ASSERT_EQ(r.rgb[i], 0);
      ASSERT_EQ(r.rgb[i + 1], 128);
      ASSERT_EQ(r.rgb[i + 2], 255);
    }
  }
}

TEST(PilResize, BicubicOvershootIsClamped) {
  // A hard 0/255 edge rings with the negative bicubic lobes; results must clamp, not wrap.
  Image edge(16, 4);
  for (int y = 0; y < 4; ++y)
    for (int x = 8; x < 16; ++x) std::fill_n(edge.pixel(x, y), 3, uint8_t(255));
  const Image up = image::pil_resize(edge, 40, 4, ResampleFilter::kBicubic);
  EXPECT_EQ(up, ref_resize(edge, 40, 4, ResampleFilter::kBicubic));
  EXPECT_EQ(up.pixel(0, 0)[0], 0);
  EXPECT_EQ(up.pixel(39, 0)[0], 255);
}

TEST(PilResize, SameSizeIsACopy) {
  const Image src = random_image(9, 7, 2);
  EXPECT_EQ(image::pil_resize(src, 9, 7, ResampleFilter::kBicubic), src);
}

TEST(PilResize, RejectsNearestAndBadSizes) {
  const Image src = random_image(4, 4, 3);
  EXPECT_THROW(image::pil_resize(src, 2, 2, ResampleFilter::kNearest), Error);
  EXPECT_THROW(image::pil_resize(src, 0, 2, ResampleFilter::kBicubic), Error);
  EXPECT_THROW(image::pil_resize(src, 2, 20000, ResampleFilter::kBicubic), Error);
  EXPECT_THROW(image::resample_filter_from_pil(6), Error);
  EXPECT_THROW(image::resample_filter_from_pil(-1), Error);
  EXPECT_EQ(image::resample_filter_from_pil(3), ResampleFilter::kBicubic);
  EXPECT_EQ(image::resample_filter_from_pil(1), ResampleFilter::kLanczos);
}

}  // namespace
}  // namespace ipa
