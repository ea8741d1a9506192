// The per-format decoders behind decode_image(). Each returns the pixels as stored (no EXIF
// orientation applied yet), PIL's name for the stored mode, and the raw EXIF payload if any.
// Internal to src/image/.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "image/image.h"

namespace ipa::image::detail {

struct RawDecode {
  Image image;
  std::string mode;
  std::vector<uint8_t> exif;
};

RawDecode decode_png(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels);
RawDecode decode_jpeg(const uint8_t* data, size_t size, const std::string& name,
                      int64_t max_pixels);
RawDecode decode_webp(const uint8_t* data, size_t size, const std::string& name,
                      int64_t max_pixels);

}  // namespace ipa::image::detail
