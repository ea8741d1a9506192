// Builders for small image files used by the image unit tests: PNGs of every colour type via
// libpng, JPEGs via libjpeg, WebPs via libwebp, and EXIF blocks spliced into each container.
#pragma once
#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/encode.h>
#include <zlib.h>

#include <csetjmp>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ipa::testimg {

using Bytes = std::vector<uint8_t>;

struct PngSpec {
  PngSpec(int w, int h, int type, int depth, bool adam7, Bytes samples)
      : width(w),
        height(h),
        color_type(type),
        bit_depth(depth),
        interlace(adam7),
        packed(std::move(samples)) {}
  int width = 0, height = 0;
  int color_type = PNG_COLOR_TYPE_RGB;
  int bit_depth = 8;
  bool interlace = false;
  Bytes packed;                    // rows of packed samples, big-endian 16-bit, no padding
  std::vector<png_color> palette;  // PLTE entries (palette images)
  Bytes trns;                      // tRNS alpha per palette entry
  Bytes exif;                      // eXIf payload (TIFF block)
};

inline void png_write_cb(png_structp png, png_bytep data, size_t n) {
  auto* out = static_cast<Bytes*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}
inline void png_flush_cb(png_structp) {}

inline Bytes make_png(const PngSpec& s) {
  Bytes out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  const int channels = s.color_type == PNG_COLOR_TYPE_RGB          ? 3
                       : s.color_type == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
                       : s.color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                                                   : 1;
  const size_t row_bytes = (size_t(s.width) * channels * s.bit_depth + 7) / 8;
  std::vector<png_bytep> rows(s.height);
  for (int y = 0; y < s.height; ++y)
    rows[y] = const_cast<png_bytep>(s.packed.data()) + y * row_bytes;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw std::runtime_error("test PNG writer failed");
  }
  png_set_write_fn(png, &out, png_write_cb, png_flush_cb);
  png_set_check_for_invalid_index(png, 0);  // some tests write indices past PLTE on purpose
  png_set_IHDR(png, info, s.width, s.height, s.bit_depth, s.color_type,
               s.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!s.palette.empty())
    png_set_PLTE(png, info, s.palette.data(), static_cast<int>(s.palette.size()));
  if (!s.trns.empty())
    png_set_tRNS(png, info, s.trns.data(), static_cast<int>(s.trns.size()), nullptr);
  if (!s.exif.empty())
    png_set_eXIf_1(png, info, static_cast<png_uint_32>(s.exif.size()),
                   const_cast<png_bytep>(s.exif.data()));
  png_write_info(png, info);
  png_write_image(png, rows.data());
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return out;
}

// A JPEG of `components` interleaved 8-bit samples per pixel in `space` (JCS_RGB, JCS_GRAYSCALE,
// JCS_CMYK); CMYK files get an Adobe marker, as Photoshop writes them.
inline Bytes make_jpeg(const uint8_t* pixels, int w, int h, int components, J_COLOR_SPACE space,
                       int quality = 90, bool progressive = false) {
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = w;
  c.image_height = h;
  c.input_components = components;
  c.in_color_space = space;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels + size_t(c.next_scanline) * w * components);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  Bytes out(buf, buf + size);
  free(buf);
  return out;
}

// A TIFF block whose IFD0 holds one Orientation entry (tag 0x0112) of `type` (3 SHORT, 4 LONG).
inline Bytes exif_tiff(int orientation, bool little_endian, int type = 3, uint32_t count = 1) {
  auto u16 = [&](Bytes& b, uint16_t v) {
    if (little_endian) {
      b.push_back(v & 0xFF), b.push_back(v >> 8);
    } else {
      b.push_back(v >> 8), b.push_back(v & 0xFF);
    }
  };
  auto u32 = [&](Bytes& b, uint32_t v) {
    for (int i = 0; i < 4; ++i)
      b.push_back(little_endian ? (v >> (8 * i)) & 0xFF : (v >> (8 * (3 - i))) & 0xFF);
  };
  Bytes b = little_endian ? Bytes{'I', 'I'} : Bytes{'M', 'M'};
  u16(b, 42);
  u32(b, 8);
  u16(b, 2);  // two entries: an unrelated one first (ImageWidth), then Orientation
  u16(b, 0x0100), u16(b, 3), u32(b, 1), u16(b, 77), u16(b, 0);
  u16(b, 0x0112), u16(b, static_cast<uint16_t>(type)), u32(b, count);
  if (type == 4) {
    u32(b, static_cast<uint32_t>(orientation));
  } else {
    u16(b, static_cast<uint16_t>(orientation)), u16(b, 0);
  }
  u32(b, 0);  // no next IFD
  return b;
}

// `jpeg` with an APP1 "Exif\0\0" + tiff segment inserted right after SOI.
inline Bytes jpeg_with_exif(const Bytes& jpeg, const Bytes& tiff) {
  Bytes seg = {0xFF, 0xE1, 0, 0, 'E', 'x', 'i', 'f', 0, 0};
  seg.insert(seg.end(), tiff.begin(), tiff.end());
  const size_t len = seg.size() - 2;
  seg[2] = static_cast<uint8_t>(len >> 8);
  seg[3] = static_cast<uint8_t>(len & 0xFF);
  Bytes out(jpeg.begin(), jpeg.begin() + 2);
  out.insert(out.end(), seg.begin(), seg.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

// Lossless WebP of RGBA pixels, keeping the RGB of transparent pixels ("exact").
inline Bytes make_webp_lossless(const uint8_t* rgba, int w, int h) {
  WebPConfig config;
  WebPConfigInit(&config);
  config.lossless = 1;
  config.exact = 1;
  WebPPicture pic;
  WebPPictureInit(&pic);
  pic.use_argb = 1;
  pic.width = w;
  pic.height = h;
  WebPMemoryWriter writer;
  WebPMemoryWriterInit(&writer);
  pic.writer = WebPMemoryWrite;
  pic.custom_ptr = &writer;
  if (!WebPPictureImportRGBA(&pic, rgba, w * 4) || !WebPEncode(&config, &pic))
    throw std::runtime_error("test WebP encoder failed");
  Bytes out(writer.mem, writer.mem + writer.size);
  WebPPictureFree(&pic);
  WebPMemoryWriterClear(&writer);
  return out;
}

inline void put_le(Bytes& b, uint32_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back((v >> (8 * i)) & 0xFF);
}

// Rewraps a simple-format WebP ("RIFF" "WEBP" + one VP8/VP8L chunk) into the extended format
// with an EXIF chunk after the image data.
inline Bytes webp_with_exif(const Bytes& simple, int w, int h, const Bytes& exif) {
  const Bytes image_chunk(simple.begin() + 12, simple.end());
  Bytes body = {'W', 'E', 'B', 'P', 'V', 'P', '8', 'X'};
  put_le(body, 10, 4);
  body.push_back(0x08);  // EXIF flag
  put_le(body, 0, 3);
  put_le(body, w - 1, 3);
  put_le(body, h - 1, 3);
  body.insert(body.end(), image_chunk.begin(), image_chunk.end());
  body.insert(body.end(), {'E', 'X', 'I', 'F'});
  put_le(body, static_cast<uint32_t>(exif.size()), 4);
  body.insert(body.end(), exif.begin(), exif.end());
  if (exif.size() % 2) body.push_back(0);
  Bytes out = {'R', 'I', 'F', 'F'};
  put_le(out, static_cast<uint32_t>(body.size()), 4);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// A PNG holding the signature, an IHDR chunk with the given header fields and an empty IDAT.
inline Bytes png_header_only(uint32_t w, uint32_t h, uint8_t bit_depth, uint8_t color_type) {
  Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  for (uint32_t v : {w, h})
    for (int i = 3; i >= 0; --i) out.push_back((v >> (8 * i)) & 0xFF);
  out.insert(out.end(), {bit_depth, color_type, 0, 0, 0});
  const uLong crc = crc32(0, out.data() + 12, 17);
  for (int i = 3; i >= 0; --i) out.push_back((crc >> (8 * i)) & 0xFF);
  const uint8_t idat[4] = {'I', 'D', 'A', 'T'};
  out.insert(out.end(), {0, 0, 0, 0, 'I', 'D', 'A', 'T'});
  const uLong idat_crc = crc32(0, idat, 4);
  for (int i = 3; i >= 0; --i) out.push_back((idat_crc >> (8 * i)) & 0xFF);
  return out;
}

inline void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace ipa::testimg
