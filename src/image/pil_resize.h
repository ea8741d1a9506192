// PIL's Image.resize for 8-bit RGB, reproduced bit for bit (Pillow's libImaging/Resample.c
// semantics): a separable convolution whose kernel support grows with the downscale factor
// (the "antialias"), float kernel weights normalised per output pixel and then rounded to
// 22-bit fixed point, a horizontal pass followed by a vertical pass, each rounding to uint8.
// CLIPImageProcessor resizes with exactly this (BICUBIC), so CLIP pixel values match the
// reference only if this matches PIL.
#pragma once
#include "image/image.h"

namespace ipa::image {

// PIL's Image.Resampling values (also the `resample` integer of preprocessor_config.json).
enum class ResampleFilter {
  kNearest = 0,
  kLanczos = 1,
  kBilinear = 2,
  kBicubic = 3,
  kBox = 4,
  kHamming = 5,
};

// The filter for a PIL resample value; throws ipa::Error for values outside 0..5.
ResampleFilter resample_filter_from_pil(int value);
const char* resample_filter_name(ResampleFilter filter);

// PIL's `img.resize((out_width, out_height), filter)` on an RGB image. kNearest (a different
// code path in PIL) is not supported and throws ipa::Error, as do sizes outside the image limits.
Image pil_resize(const Image& src, int out_width, int out_height, ResampleFilter filter);

// PIL's `img.resize(size, filter, box=(x0, y0, x1, y1))`: only the box's region is resampled
// (a box of zero height or width spreads its edge row or column, as diffusers' fill resize
// relies on).
struct ResizeBox {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};
Image pil_resize(const Image& src, int out_width, int out_height, ResampleFilter filter,
                 const ResizeBox& box);

}  // namespace ipa::image
