// PNG through libpng. libpng reports errors by longjmp; everything the protected scope touches
// lives in a PngDecoder object owned by the caller, so no automatic variable of the setjmp
// frame is read after a jump, and the destructor frees libpng's state on every path.
#include <png.h>

#include <array>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "image/decode_codecs.h"

namespace ipa::image::detail {
namespace {

struct PngDecoder {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const uint8_t* data = nullptr;
  size_t size = 0, pos = 0;
  int64_t max_pixels = 0;
  char message[256] = {};

  uint32_t width = 0, height = 0;
  int color_type = 0, bit_depth = 0;
  size_t row_bytes = 0;
  std::vector<uint8_t> pixels;
  std::vector<png_bytep> rows;
  // PIL's palette: a grey ramp overwritten by the PLTE entries (indices past PLTE stay grey).
  std::array<uint8_t, 256 * 3> palette{};

  ~PngDecoder() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* d = static_cast<PngDecoder*>(png_get_error_ptr(png));
  std::snprintf(d->message, sizeof d->message, "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // PIL ignores these as well

void read_from_memory(png_structp png, png_bytep out, size_t n) {
  auto* d = static_cast<PngDecoder*>(png_get_io_ptr(png));
  if (n > d->size - d->pos) png_error(png, "file is truncated");
  std::memcpy(out, d->data + d->pos, n);
  d->pos += n;
}

// Runs libpng; false after a libpng error (message in d.message). C++ exceptions thrown here
// (dimension limits, allocation) never cross a libpng frame.
bool run_libpng(PngDecoder& d, const std::string& name) {
  if (setjmp(png_jmpbuf(d.png))) return false;

  png_set_read_fn(d.png, &d, read_from_memory);
  png_read_info(d.png, d.info);
  png_get_IHDR(d.png, d.info, &d.width, &d.height, &d.bit_depth, &d.color_type, nullptr, nullptr,
               nullptr);
  check_image_dimensions(d.width, d.height, name, d.max_pixels);

  if (d.bit_depth == 16) png_set_strip_16(d.png);  // keeps the high byte, like PIL's ";16B" modes
  if (d.color_type == PNG_COLOR_TYPE_PALETTE) {
    png_set_packing(d.png);  // one index per byte; the palette is applied below, PIL's way
    for (int i = 0; i < 256; ++i)
      d.palette[i * 3] = d.palette[i * 3 + 1] = d.palette[i * 3 + 2] = i;
    png_colorp plte = nullptr;
    int n = 0;
    if (png_get_PLTE(d.png, d.info, &plte, &n) & PNG_INFO_PLTE) {
      for (int i = 0; i < n && i < 256; ++i) {
        d.palette[i * 3 + 0] = plte[i].red;
        d.palette[i * 3 + 1] = plte[i].green;
        d.palette[i * 3 + 2] = plte[i].blue;
      }
    }
  } else if (d.color_type == PNG_COLOR_TYPE_GRAY && d.bit_depth < 8) {
    png_set_expand_gray_1_2_4_to_8(d.png);  // v * 255 / (2^bits - 1), as PIL's "1"/"L;2"/"L;4"
  }
  png_set_interlace_handling(d.png);
  png_read_update_info(d.png, d.info);

  d.row_bytes = png_get_rowbytes(d.png, d.info);
  const size_t channels = png_get_channels(d.png, d.info);
  if (channels < 1 || channels > 4 || d.row_bytes != channels * d.width)
    png_error(d.png, "unexpected pixel layout after conversion");
  d.pixels.resize(d.row_bytes * d.height);
  d.rows.resize(d.height);
  for (uint32_t y = 0; y < d.height; ++y) d.rows[y] = d.pixels.data() + y * d.row_bytes;
  png_read_image(d.png, d.rows.data());
  // Chunks after the image data are not needed (eXIf is found by chunk_payload); like PIL we
  // accept a file whose IEND is missing.
  return true;
}

std::string mode_name(int color_type, int bit_depth) {
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
      return bit_depth == 1 ? "1" : bit_depth == 16 ? "I;16" : "L";
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      return "LA";
    case PNG_COLOR_TYPE_PALETTE:
      return "P";
    case PNG_COLOR_TYPE_RGB:
      return "RGB";
    case PNG_COLOR_TYPE_RGB_ALPHA:
      return "RGBA";
  }
  return "?";
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

// The payload of the first chunk of `type`, found by walking the chunk list (bounds-checked).
std::vector<uint8_t> chunk_payload(const uint8_t* data, size_t size, const char* type) {
  size_t pos = 8;
  while (pos + 12 <= size) {
    const uint32_t length = be32(data + pos);
    if (length > size - pos - 12) break;
    const uint8_t* tag = data + pos + 4;
    if (std::memcmp(tag, type, 4) == 0) return {tag + 4, tag + 4 + length};
    if (std::memcmp(tag, "IEND", 4) == 0) break;
    pos += 12 + size_t(length);
  }
  return {};
}

}  // namespace

RawDecode decode_png(const uint8_t* data, size_t size, const std::string& name,
                     int64_t max_pixels) {
  PngDecoder d;
  d.data = data;
  d.size = size;
  d.max_pixels = max_pixels;
  d.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &d, on_png_error, on_png_warning);
  if (!d.png) throw Error("cannot initialise libpng", name);
  d.info = png_create_info_struct(d.png);
  if (!d.info) throw Error("cannot initialise libpng", name);
  if (!run_libpng(d, name)) throw Error(std::string("corrupt PNG: ") + d.message, name);

  RawDecode out;
  out.mode = mode_name(d.color_type, d.bit_depth);
  out.image = Image(static_cast<int>(d.width), static_cast<int>(d.height));
  const size_t channels = d.row_bytes / d.width;  // checked in run_libpng
  for (uint32_t y = 0; y < d.height; ++y) {
    const uint8_t* src = d.rows[y];
    uint8_t* dst = out.image.row(static_cast<int>(y));
    for (uint32_t x = 0; x < d.width; ++x, src += channels, dst += 3) {
      if (d.color_type == PNG_COLOR_TYPE_PALETTE) {
        std::memcpy(dst, &d.palette[size_t(src[0]) * 3], 3);
      } else if (channels <= 2) {  // grey (+ alpha, dropped)
        dst[0] = dst[1] = dst[2] = src[0];
      } else {  // RGB (+ alpha, dropped)
        dst[0] = src[0];
        dst[1] = src[1];
        dst[2] = src[2];
      }
    }
  }
  out.exif = chunk_payload(data, size, "eXIf");
  return out;
}

}  // namespace ipa::image::detail
