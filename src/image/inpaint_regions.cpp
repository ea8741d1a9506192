#include "image/inpaint_regions.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/error.h"
#include "image/pil_resize.h"

namespace ipa::image {
namespace {

// PIL's RGB → L.
inline uint32_t luma(const uint8_t* rgb) {
  return (rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16;
}

// One line of PIL's ImagingLineBoxBlur8: a box of 2·radius + 1 whole taps plus a fractional tap
// at each end (weights ww and fw in 24-bit fixed point), edges extended. `in` is strided (a row
// or a column of one channel), `out` is a packed line of n bytes.
struct BoxWeights {
  int radius;
  uint32_t ww, fw;
};

void box_blur_line(const uint8_t* in, uint8_t* out, int n, size_t stride, const BoxWeights& b) {
  const int r = b.radius, last = n - 1;
  const int edge_a = std::min(r + 1, n), edge_b = std::max(n - r - 1, 0);
  auto at = [&](int i) { return static_cast<uint32_t>(in[static_cast<size_t>(i) * stride]); };
  uint32_t acc = at(0) * static_cast<uint32_t>(r + 1);
  for (int x = 0; x < edge_a - 1; ++x) acc += at(x);
  acc += at(last) * static_cast<uint32_t>(r - edge_a + 1);
  auto emit = [&](int x, int sub, int add, int far_left, int far_right) {
    acc += at(add) - at(sub);
    const uint32_t bulk = acc * b.ww + (at(far_left) + at(far_right)) * b.fw;
    out[x] = static_cast<uint8_t>((bulk + (1u << 23)) >> 24);
  };
  if (edge_a <= edge_b) {
    for (int x = 0; x < edge_a; ++x) emit(x, 0, x + r, 0, x + r + 1);
    for (int x = edge_a; x < edge_b; ++x) emit(x, x - r - 1, x + r, x - r - 1, x + r + 1);
    for (int x = edge_b; x <= last; ++x) emit(x, x - r - 1, last, x - r - 1, last);
  } else {
    for (int x = 0; x < edge_b; ++x) emit(x, 0, x + r, 0, x + r + 1);
    for (int x = edge_b; x < edge_a; ++x) emit(x, 0, last, 0, last);
    for (int x = edge_a; x <= last; ++x) emit(x, x - r - 1, last, x - r - 1, last);
  }
}

BoxWeights box_weights(float radius) {
  BoxWeights b;
  b.radius = static_cast<int>(radius);
  b.ww = static_cast<uint32_t>(static_cast<float>(1u << 24) / (radius * 2 + 1));
  b.fw = ((1u << 24) - static_cast<uint32_t>(b.radius * 2 + 1) * b.ww) / 2;
  return b;
}

// PIL's _gaussian_blur_radius: the extended box radius whose `passes` repetitions have the
// Gaussian's variance (Gwosdek et al., SSVM 2011), in PIL's float arithmetic.
float box_radius_for_gaussian(float radius, int passes) {
  const float sigma2 = radius * radius / static_cast<float>(passes);
  const float L = static_cast<float>(std::sqrt(12.0 * sigma2 + 1.0));
  const float l = static_cast<float>(std::floor((L - 1.0) / 2.0));
  float a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
  a /= 6 * (sigma2 - (l + 1) * (l + 1));
  return l + a;
}

void paste(Image& dst, const Image& src, int x0, int y0) {
  for (int y = 0; y < src.height; ++y) {
    const int dy = y0 + y;
    if (dy < 0 || dy >= dst.height) continue;
    for (int x = 0; x < src.width; ++x) {
      const int dx = x0 + x;
      if (dx < 0 || dx >= dst.width) continue;
      std::copy_n(src.pixel(x, y), 3, dst.pixel(dx, dy));
    }
  }
}

inline uint32_t shift_div255(uint32_t a) {
  return ((a >> 8) + a) >> 8;
}

}  // namespace

Image gaussian_blur(const Image& img, float radius) {
  if (!(radius >= 0) || !std::isfinite(radius)) {
    throw Error("mask blur: the radius must be a finite number >= 0");
  }
  if (radius == 0 || img.empty()) return img;
  constexpr int kPasses = 3;
  const BoxWeights b = box_weights(box_radius_for_gaussian(radius, kPasses));
  Image out = img;
  std::vector<uint8_t> line(static_cast<size_t>(std::max(img.width, img.height)));
  // Rows (each pass reads the previous one's output), then columns, as PIL (which transposes).
  for (int y = 0; y < out.height; ++y) {
    for (int c = 0; c < 3; ++c) {
      uint8_t* row = out.row(y) + c;
      for (int p = 0; p < kPasses; ++p) {
        box_blur_line(row, line.data(), out.width, 3, b);
        for (int x = 0; x < out.width; ++x) row[static_cast<size_t>(x) * 3] = line[x];
      }
    }
  }
  for (int x = 0; x < out.width; ++x) {
    for (int c = 0; c < 3; ++c) {
      uint8_t* col = out.pixel(x, 0) + c;
      for (int p = 0; p < kPasses; ++p) {
        box_blur_line(col, line.data(), out.height, out.row_bytes(), b);
        for (int y = 0; y < out.height; ++y)
          col[static_cast<size_t>(y) * out.row_bytes()] = line[y];
      }
    }
  }
  return out;
}

CropBox mask_crop_region(const Image& mask, int width, int height, int pad) {
  const int w = mask.width, h = mask.height;
  int left = w, right = -1, top = h, bottom = -1;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      if (luma(mask.pixel(x, y)) != 0) {
        left = std::min(left, x);
        right = std::max(right, x);
        top = std::min(top, y);
        bottom = std::max(bottom, y);
      }
    }
  }
  if (right < 0) return {};  // all black
  int x1 = std::max(left - pad, 0), y1 = std::max(top - pad, 0);
  int x2 = std::min(right + 1 + pad, w), y2 = std::min(bottom + 1 + pad, h);
  // Grow the short side to the output's aspect ratio, centred, shifted back inside.
  const double ratio_crop = double(x2 - x1) / double(y2 - y1);
  const double ratio_out = double(width) / double(height);
  if (ratio_crop > ratio_out) {
    const double desired = double(x2 - x1) / ratio_out;
    const int diff = static_cast<int>(desired - double(y2 - y1));
    y1 -= diff / 2;
    y2 += diff - diff / 2;
    if (y2 >= h) {
      const int over = y2 - h;
      y2 -= over;
      y1 -= over;
    }
    if (y1 < 0) {
      y2 -= y1;
      y1 = 0;
    }
    if (y2 >= h) y2 = h;
  } else {
    const double desired = double(y2 - y1) * ratio_out;
    const int diff = static_cast<int>(desired - double(x2 - x1));
    x1 -= diff / 2;
    x2 += diff - diff / 2;
    if (x2 >= w) {
      const int over = x2 - w;
      x2 -= over;
      x1 -= over;
    }
    if (x1 < 0) {
      x2 -= x1;
      x1 = 0;
    }
    if (x2 >= w) x2 = w;
  }
  return {x1, y1, x2, y2};
}

Image crop(const Image& img, const CropBox& box) {
  check_image_dimensions(box.width(), box.height(), "crop");
  Image out(box.width(), box.height());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      const int sx = box.x1 + x, sy = box.y1 + y;
      // PIL's crop fills outside the image with black.
      if (sx >= 0 && sy >= 0 && sx < img.width && sy < img.height) {
        std::copy_n(img.pixel(sx, sy), 3, out.pixel(x, y));
      }
    }
  }
  return out;
}

Image resize_fill(const Image& img, int width, int height) {
  const double ratio = double(width) / height, src_ratio = double(img.width) / img.height;
  const int src_w = ratio < src_ratio ? width : img.width * height / img.height;
  const int src_h = ratio >= src_ratio ? height : img.height * width / img.width;
  const Image resized = pil_resize(img, src_w, src_h, ResampleFilter::kLanczos);
  Image out(width, height);
  paste(out, resized, width / 2 - src_w / 2, height / 2 - src_h / 2);
  const double rw = resized.width, rh = resized.height;
  // diffusers' edge resizes pass no `resample`: PIL's default for RGB, BICUBIC.
  constexpr ResampleFilter kEdgeFilter = ResampleFilter::kBicubic;
  if (ratio < src_ratio) {
    const int fill = height / 2 - src_h / 2;
    if (fill > 0) {
      paste(out, pil_resize(resized, width, fill, kEdgeFilter, {0, 0, double(width), 0}), 0, 0);
      paste(out, pil_resize(resized, width, fill, kEdgeFilter, {0, rh, double(width), rh}), 0,
            fill + src_h);
    }
  } else if (ratio > src_ratio) {
    const int fill = width / 2 - src_w / 2;
    if (fill > 0) {
      paste(out, pil_resize(resized, fill, height, kEdgeFilter, {0, 0, 0, double(height)}), 0, 0);
      paste(out, pil_resize(resized, fill, height, kEdgeFilter, {rw, 0, rw, double(height)}),
            fill + src_w, 0);
    }
  }
  return out;
}

Image resize_crop(const Image& img, int width, int height) {
  const double ratio = double(width) / height, src_ratio = double(img.width) / img.height;
  const int src_w = ratio > src_ratio ? width : img.width * height / img.height;
  const int src_h = ratio <= src_ratio ? height : img.height * width / img.width;
  const Image resized = pil_resize(img, src_w, src_h, ResampleFilter::kLanczos);
  Image out(width, height);
  paste(out, resized, width / 2 - src_w / 2, height / 2 - src_h / 2);
  return out;
}

Image overlay_unmasked(const Image& mask, const Image& init, const Image& generated,
                       const std::optional<CropBox>& crop_box) {
  if (mask.width != init.width || mask.height != init.height) {
    throw Error("overlay: the mask (" + std::to_string(mask.width) + "x" +
                std::to_string(mask.height) + ") and the original image (" +
                std::to_string(init.width) + "x" + std::to_string(init.height) +
                ") must have the same size");
  }
  Image base = generated;
  if (crop_box) {
    // The generated crop back in its box on a black canvas the original's size.
    base = Image(init.width, init.height);
    paste(base, resize_crop(generated, crop_box->width(), crop_box->height()), crop_box->x1,
          crop_box->y1);
  } else if (generated.width != init.width || generated.height != init.height) {
    throw Error("overlay: the generated image and the original must have the same size");
  }
  constexpr uint32_t kBits = 7;  // PIL's alpha_composite precision
  Image out = base;
  for (int y = 0; y < init.height; ++y) {
    for (int x = 0; x < init.width; ++x) {
      // paste(init as RGBa, mask = 255 − L) onto transparent black: premultiplied colour.
      const uint32_t a = 255 - luma(mask.pixel(x, y));
      if (a == 0) continue;  // alpha_composite keeps the destination
      const uint8_t* in = init.pixel(x, y);
      uint8_t* o = out.pixel(x, y);
      const uint32_t coef1 = a * 255 * 255 * (1u << kBits) / (a * 255 + 255 * (255 - a));
      const uint32_t coef2 = 255 * (1u << kBits) - coef1;
      for (int c = 0; c < 3; ++c) {
        uint32_t t = in[c] * a + 128;
        const uint32_t premultiplied = shift_div255(t);
        // RGBa → RGBA un-premultiplies (exact for alpha 255).
        const uint32_t colour =
            a == 255 ? premultiplied : std::min<uint32_t>(255 * premultiplied / a, 255);
        t = colour * coef1 + o[c] * coef2;
        o[c] = static_cast<uint8_t>(shift_div255(t + (0x80u << kBits)) >> kBits);
      }
    }
  }
  return out;
}

}  // namespace ipa::image
