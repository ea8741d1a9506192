#include "pipeline/decode.h"

#include <algorithm>
#include <cmath>

namespace ipa {

Tensor decode_latents(const vae::AutoencoderKL& vae, const Tensor& latents,
                      const vae::TilingOptions& tiling) {
  return vae.decode(vae.to_vae_latents(latents), tiling);
}

std::vector<image::Image> to_images(const Tensor& decoded) {
  if (decoded.dim() != 4 || decoded.size(1) != 3) {
    throw Error("decoded images must be [N, 3, H, W], got " + shape_str(decoded.shape()));
  }
  const int64_t n = decoded.size(0), h = decoded.size(2), w = decoded.size(3);
  const std::vector<float> px = decoded.to_floats();
  std::vector<image::Image> out;
  for (int64_t b = 0; b < n; ++b) {
    image::Image img(static_cast<int>(w), static_cast<int>(h));
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        for (int64_t c = 0; c < 3; ++c) {
          const float v = px[static_cast<size_t>(((b * 3 + c) * h + y) * w + x)];
          const float u = std::min(1.0f, std::max(0.0f, v / 2 + 0.5f));
          img.pixel(static_cast<int>(x), static_cast<int>(y))[c] =
              static_cast<uint8_t>(std::nearbyint(u * 255.0f));
        }
      }
    }
    out.push_back(std::move(img));
  }
  return out;
}

}  // namespace ipa
