// ipadapter.cpp public API: an 8-bit RGB image, what decoders produce, what the engine takes as
// reference images and gives back as results. Pixels are row-major, 3 bytes per pixel, rows
// packed without padding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ipa::image {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // height * width * 3 bytes

  Image() = default;
  Image(int w, int h) : width(w), height(h), rgb(static_cast<size_t>(w) * h * 3) {}

  bool empty() const { return width == 0 || height == 0; }
  size_t row_bytes() const { return static_cast<size_t>(width) * 3; }
  uint8_t* row(int y) { return rgb.data() + static_cast<size_t>(y) * row_bytes(); }
  const uint8_t* row(int y) const { return rgb.data() + static_cast<size_t>(y) * row_bytes(); }
  const uint8_t* pixel(int x, int y) const { return row(y) + static_cast<size_t>(x) * 3; }
  uint8_t* pixel(int x, int y) { return row(y) + static_cast<size_t>(x) * 3; }

  bool operator==(const Image& o) const {
    return width == o.width && height == o.height && rgb == o.rgb;
  }
};

}  // namespace ipa::image
