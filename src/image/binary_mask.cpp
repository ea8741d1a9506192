#include "image/binary_mask.h"

#include "image/pil_resize.h"

namespace ipa::image {

Tensor binary_mask(const Image& mask, int width, int height) {
  check_image_dimensions(width, height, "mask size");
  // PIL returns a copy for a resize to the same size.
  const Image sized = mask.width == width && mask.height == height
                          ? mask
                          : pil_resize(mask, width, height, ResampleFilter::kLanczos);
  Tensor out = Tensor::empty({height, width});
  float* p = out.data<float>();
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = sized.row(y);
    for (int x = 0; x < width; ++x) {
      const uint8_t* rgb = row + 3 * x;
      // PIL's RGB → L: (r·19595 + g·38470 + b·7471 + 2^15) >> 16
      const uint32_t luma = (rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16;
      p[y * width + x] = static_cast<float>(luma) / 255.0f < 0.5f ? 0.f : 1.f;
    }
  }
  return out;
}

bool mask_is_empty(const Tensor& mask) {
  for (float v : mask.to_floats()) {
    if (v != 0.f) return false;
  }
  return true;
}

}  // namespace ipa::image
