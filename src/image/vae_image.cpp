#include "image/vae_image.h"

#include "image/pil_resize.h"

namespace ipa::image {

PixelSize rounded_down_size(const Image& img, int factor) {
  return {img.width - img.width % factor, img.height - img.height % factor};
}

Image resized_to(const Image& img, int width, int height) {
  check_image_dimensions(width, height, "output size");
  if (img.width == width && img.height == height) return img;
  return pil_resize(img, width, height, ResampleFilter::kLanczos);
}

namespace {

// [1, 3, H, W] with value = byte / 255 · a + b (numpy's float32 division, then the affine map in
// float32 as torch does it).
Tensor planar(const Image& img, float a, float b) {
  Tensor out = Tensor::empty({1, 3, img.height, img.width});
  float* p = out.data<float>();
  const size_t plane = static_cast<size_t>(img.width) * img.height;
  for (int y = 0; y < img.height; ++y) {
    const uint8_t* row = img.row(y);
    for (int x = 0; x < img.width; ++x) {
      for (int c = 0; c < 3; ++c) {
        const float v = static_cast<float>(row[3 * x + c]) / 255.0f;
        p[c * plane + static_cast<size_t>(y) * img.width + x] = a * v + b;
      }
    }
  }
  return out;
}

}  // namespace

Tensor vae_pixels(const Image& img, int width, int height) {
  return planar(resized_to(img, width, height), 2.0f, -1.0f);
}

Tensor unit_pixels(const Image& img, int width, int height) {
  return planar(resized_to(img, width, height), 1.0f, 0.0f);
}

}  // namespace ipa::image
