#include "image/exif.h"

#include <cstring>

namespace ipa::image {
namespace {

constexpr uint16_t kOrientationTag = 0x0112;

struct TiffReader {
  const uint8_t* data;
  size_t size;
  bool little_endian;

  bool u16(size_t at, uint16_t* v) const {
    if (at > size || size - at < 2) return false;
    *v = little_endian ? uint16_t(data[at] | data[at + 1] << 8)
                       : uint16_t(data[at] << 8 | data[at + 1]);
    return true;
  }
  bool u32(size_t at, uint32_t* v) const {
    if (at > size || size - at < 4) return false;
    const uint8_t* p = data + at;
    *v = little_endian
             ? uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24
             : uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
    return true;
  }
};

}  // namespace

int exif_orientation(const uint8_t* data, size_t size) {
  if (size >= 6 && std::memcmp(data, "Exif\0\0", 6) == 0) {
    data += 6;
    size -= 6;
  }
  if (size < 8) return 0;
  TiffReader r{data, size, true};
  if (data[0] == 'I' && data[1] == 'I') {
    r.little_endian = true;
  } else if (data[0] == 'M' && data[1] == 'M') {
    r.little_endian = false;
  } else {
    return 0;
  }
  uint16_t magic = 0;
  uint32_t ifd0 = 0;
  if (!r.u16(2, &magic) || magic != 42 || !r.u32(4, &ifd0)) return 0;
  uint16_t count = 0;
  if (!r.u16(ifd0, &count)) return 0;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t entry = size_t(ifd0) + 2 + size_t(i) * 12;
    uint16_t tag = 0, type = 0;
    uint32_t n = 0;
    if (!r.u16(entry, &tag) || !r.u16(entry + 2, &type) || !r.u32(entry + 4, &n)) return 0;
    if (tag != kOrientationTag) continue;
    if (n != 1) return 0;  // PIL then sees a tuple, which is no orientation
    uint32_t value = 0;
    if (type == 3 || type == 8) {  // SHORT / SSHORT, stored left-justified in the value field
      uint16_t v16 = 0;
      if (!r.u16(entry + 8, &v16)) return 0;
      value = v16;
    } else if (type == 4 || type == 9) {  // LONG / SLONG
      if (!r.u32(entry + 8, &value)) return 0;
    } else {
      return 0;
    }
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 0;
  }
  return 0;
}

Image apply_exif_orientation(const Image& img, int orientation) {
  if (orientation < 2 || orientation > 8) return img;
  const int w = img.width, h = img.height;
  const bool swaps = orientation >= 5;  // the transposing cases exchange width and height
  Image out(swaps ? h : w, swaps ? w : h);
  for (int r = 0; r < out.height; ++r) {
    for (int c = 0; c < out.width; ++c) {
      int sx = c, sy = r;  // source pixel shown at output (column c, row r)
      switch (orientation) {
        case 2:
          sx = w - 1 - c;
          sy = r;
          break;  // mirror left-right
        case 3:
          sx = w - 1 - c;
          sy = h - 1 - r;
          break;  // rotate 180
        case 4:
          sx = c;
          sy = h - 1 - r;
          break;  // flip top-bottom
        case 5:
          sx = r;
          sy = c;
          break;  // transpose
        case 6:
          sx = r;
          sy = h - 1 - c;
          break;  // rotate 90 clockwise
        case 7:
          sx = w - 1 - r;
          sy = h - 1 - c;
          break;  // transverse
        case 8:
          sx = w - 1 - r;
          sy = c;
          break;  // rotate 90 counter-clockwise
      }
      std::memcpy(out.pixel(c, r), img.pixel(sx, sy), 3);
    }
  }
  return out;
}

}  // namespace ipa::image
