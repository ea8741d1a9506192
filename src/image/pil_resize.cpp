#include "image/pil_resize.h"

// The kernel weights must be computed with exactly the double operations PIL performs: a fused
// multiply-add (which -march=native would otherwise emit) changes the last bit of a weight,
// and that can move a fixed-point coefficient and so an output pixel.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <cmath>
#include <string>
#include <vector>

#include "base/error.h"

namespace ipa::image {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // 8 bits of result, 2 for over/undershoot, sign

struct Filter {
  double (*weight)(double x);
  double support;
};

double box_weight(double x) {
  return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
}

double bilinear_weight(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_weight(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * M_PI;
  // PIL spells these two constants as float literals; keep their float rounding.
  return std::sin(x) / x * (double(0.54f) + double(0.46f) * std::cos(x));
}

double bicubic_weight(double x) {
  constexpr double a = -0.5;  // Keys' cubic with a = -0.5
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}

double lanczos_weight(double x) {
  return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
}

Filter filter_for(ResampleFilter f) {
  switch (f) {
    case ResampleFilter::kBox:
      return {box_weight, 0.5};
    case ResampleFilter::kBilinear:
      return {bilinear_weight, 1.0};
    case ResampleFilter::kHamming:
      return {hamming_weight, 1.0};
    case ResampleFilter::kBicubic:
      return {bicubic_weight, 2.0};
    case ResampleFilter::kLanczos:
      return {lanczos_weight, 3.0};
    case ResampleFilter::kNearest:
      break;
  }
  throw Error(
      "resize: PIL's NEAREST resampling is not supported (use BICUBIC, BILINEAR, "
      "LANCZOS, BOX or HAMMING)");
}

// Per output pixel: the first input index, the number of taps, and `taps_max` fixed-point
// coefficients.
struct Coefficients {
  int taps_max = 0;
  std::vector<int> first, count;
  std::vector<int32_t> k;
};

Coefficients compute_coefficients(int in_size, float in0, float in1, int out_size,
                                  const Filter& filter) {
  // Maps output pixel centres onto the input range [in0, in1) (the whole image without a box).
  // PIL holds the box in floats: the difference is a float, then widened.
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;  // widen the kernel only when shrinking
  const double support = filter.support * filterscale;
  Coefficients c;
  c.taps_max = int(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.k.assign(size_t(out_size) * c.taps_max, 0);
  std::vector<double> w(c.taps_max);
  const double ss = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    // PIL truncates toward zero after adding 0.5, then clamps.
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    const int n = xmax - xmin;
    double total = 0.0;
    for (int x = 0; x < n; ++x) {
      w[x] = filter.weight((x + xmin - center + 0.5) * ss);
      total += w[x];
    }
    int32_t* k = &c.k[size_t(xx) * c.taps_max];
    for (int x = 0; x < n; ++x) {
      const double v = total != 0.0 ? w[x] / total : w[x];
      // Round half away from zero into fixed point.
      k[x] = v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits))
                   : int32_t(0.5 + v * (1 << kPrecisionBits));
    }
    c.first[xx] = xmin;
    c.count[xx] = n;
  }
  return c;
}

inline uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;  // arithmetic shift: floor division
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

// Rows [row0, row0 + out.height) of `src`, resampled horizontally to out.width.
void resample_horizontal(const Image& src, int row0, const Coefficients& c, Image& out) {
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* in = src.row(row0 + y);
    uint8_t* o = out.row(y);
    for (int xx = 0; xx < out.width; ++xx) {
      const int32_t* k = &c.k[size_t(xx) * c.taps_max];
      const uint8_t* p = in + size_t(c.first[xx]) * 3;
      int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
      for (int x = 0; x < c.count[xx]; ++x, p += 3) {
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      o[xx * 3 + 0] = clip8(s0);
      o[xx * 3 + 1] = clip8(s1);
      o[xx * 3 + 2] = clip8(s2);
    }
  }
}

// `src` row i corresponds to input row row0 + i; resampled vertically to out.height.
void resample_vertical(const Image& src, int row0, const Coefficients& c, Image& out) {
  const size_t row_bytes = out.row_bytes();
  for (int yy = 0; yy < out.height; ++yy) {
    const int32_t* k = &c.k[size_t(yy) * c.taps_max];
    const int first = c.first[yy] - row0, n = c.count[yy];
    uint8_t* o = out.row(yy);
    for (size_t i = 0; i < row_bytes; ++i) {
      int32_t s = kHalf;
      for (int y = 0; y < n; ++y) s += src.row(first + y)[i] * k[y];
      o[i] = clip8(s);
    }
  }
}

}  // namespace

ResampleFilter resample_filter_from_pil(int value) {
  if (value < 0 || value > 5)
    throw Error("unknown PIL resampling filter " + std::to_string(value) +
                " (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)");
  return static_cast<ResampleFilter>(value);
}

const char* resample_filter_name(ResampleFilter filter) {
  switch (filter) {
    case ResampleFilter::kNearest:
      return "nearest";
    case ResampleFilter::kLanczos:
      return "lanczos";
    case ResampleFilter::kBilinear:
      return "bilinear";
    case ResampleFilter::kBicubic:
      return "bicubic";
    case ResampleFilter::kBox:
      return "box";
    case ResampleFilter::kHamming:
      return "hamming";
  }
  return "?";
}

Image pil_resize(const Image& src, int out_width, int out_height, ResampleFilter filter) {
  return pil_resize(src, out_width, out_height, filter,
                    ResizeBox{0, 0, double(src.width), double(src.height)});
}

Image pil_resize(const Image& src, int out_width, int out_height, ResampleFilter filter,
                 const ResizeBox& box_in) {
  // PIL parses the box into float[4] ("(ffff)"), so a box coordinate is rounded to float before
  // any use (fractional boxes otherwise differ in the last bit of the kernel centres).
  struct {
    float x0, y0, x1, y1;
  } const box{static_cast<float>(box_in.x0), static_cast<float>(box_in.y0),
              static_cast<float>(box_in.x1), static_cast<float>(box_in.y1)};
  check_image_dimensions(src.width, src.height, "resize input");
  check_image_dimensions(out_width, out_height, "resize output");
  if (!(box.x0 >= 0 && box.y0 >= 0 && box.x1 <= src.width && box.y1 <= src.height &&
        box.x0 <= box.x1 && box.y0 <= box.y1)) {
    throw Error("resize: the box must lie inside the " + std::to_string(src.width) + "x" +
                std::to_string(src.height) + " image");
  }
  const Filter f = filter_for(filter);
  // PIL's need_horizontal / need_vertical.
  const bool horizontal = out_width != src.width || box.x0 != 0 || box.x1 != out_width;
  const bool vertical = out_height != src.height || box.y0 != 0 || box.y1 != out_height;
  if (!horizontal && !vertical) return src;  // PIL returns a copy for the same size

  const Coefficients cv = compute_coefficients(src.height, box.y0, box.y1, out_height, f);
  // Only the input rows some output row reads need the horizontal pass.
  const int row0 = cv.first.front();
  const int row1 = cv.first.back() + cv.count.back();
  if (!horizontal) {
    Image out(out_width, out_height);
    resample_vertical(src, 0, cv, out);
    return out;
  }
  const Coefficients ch = compute_coefficients(src.width, box.x0, box.x1, out_width, f);
  Image tmp(out_width, row1 - row0);
  resample_horizontal(src, row0, ch, tmp);
  if (!vertical) return tmp;
  Image out(out_width, out_height);
  resample_vertical(tmp, row0, cv, out);
  return out;
}

}  // namespace ipa::image
