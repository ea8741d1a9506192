// libpng writes through a memory sink; its errors longjmp back into run_libpng_write(), whose
// state lives in the caller's PngEncoder (see decode_png.cpp for the same pattern).
#include "image/encode_png.h"

#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "base/error.h"

namespace ipa::image {
namespace {

struct PngEncoder {
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::vector<uint8_t> out;
  std::vector<png_text> text_chunks;
  std::vector<png_bytep> rows;
  char message[256] = {};
  bool overflow = false;

  ~PngEncoder() {
    if (png) png_destroy_write_struct(&png, info ? &info : nullptr);
  }
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* e = static_cast<PngEncoder*>(png_get_error_ptr(png));
  std::snprintf(e->message, sizeof e->message, "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}
void on_png_warning(png_structp, png_const_charp) {}

void write_to_memory(png_structp png, png_bytep data, size_t n) {
  auto* e = static_cast<PngEncoder*>(png_get_io_ptr(png));
  try {
    e->out.insert(e->out.end(), data, data + n);
  } catch (...) {  // exceptions must not unwind through libpng
    e->overflow = true;
    png_error(png, "out of memory");
  }
}
void flush_memory(png_structp) {}

bool run_libpng_write(PngEncoder& e, const Image& img, int compression_level) {
  if (setjmp(png_jmpbuf(e.png))) return false;
  png_set_write_fn(e.png, &e, write_to_memory, flush_memory);
  png_set_compression_level(e.png, compression_level);
  png_set_IHDR(e.png, e.info, static_cast<uint32_t>(img.width), static_cast<uint32_t>(img.height),
               8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!e.text_chunks.empty())
    png_set_text(e.png, e.info, e.text_chunks.data(), static_cast<int>(e.text_chunks.size()));
  png_write_info(e.png, e.info);
  png_write_image(e.png, e.rows.data());
  png_write_end(e.png, e.info);
  return true;
}

bool valid_keyword(const std::string& k) {
  if (k.empty() || k.size() > 79 || k.front() == ' ' || k.back() == ' ') return false;
  for (size_t i = 0; i < k.size(); ++i) {
    const auto c = static_cast<unsigned char>(k[i]);
    if (!((c >= 32 && c <= 126) || c >= 161)) return false;
    if (c == ' ' && i + 1 < k.size() && k[i + 1] == ' ') return false;
  }
  return true;
}

// Decodes UTF-8; false when malformed (overlong forms, surrogates and values past U+10FFFF
// included) or when it contains NUL.
bool decode_utf8(const std::string& s, std::vector<uint32_t>* cps) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (int k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c >> 6) != 2) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static const uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) return false;
    cps->push_back(cp);
    i += len;
  }
  return true;
}

}  // namespace

std::vector<uint8_t> encode_png(const Image& img, const std::vector<PngText>& text,
                                int compression_level) {
  check_image_dimensions(img.width, img.height, "PNG encoder");
  if (img.rgb.size() != size_t(img.width) * img.height * 3)
    throw Error("PNG encoder: pixel buffer does not match " + std::to_string(img.width) + "x" +
                std::to_string(img.height));
  if (compression_level < 0 || compression_level > 9)
    throw Error("PNG encoder: compression level must be 0..9");

  // Chunk payloads are prepared (and validated) before libpng runs; png_text points into them.
  std::vector<std::string> keys(text.size()), payloads(text.size());
  PngEncoder e;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!valid_keyword(text[i].keyword))
      throw Error("PNG text keyword '" + text[i].keyword +
                  "' is invalid (1-79 printable Latin-1 characters, no leading, trailing or "
                  "double spaces)");
    std::vector<uint32_t> cps;
    if (!decode_utf8(text[i].text, &cps))
      throw Error("PNG text for '" + text[i].keyword + "' is not valid UTF-8 or contains NUL");
    const bool latin1 = std::all_of(cps.begin(), cps.end(), [](uint32_t c) { return c <= 0xFF; });
    keys[i] = text[i].keyword;
    png_text t{};
    if (latin1) {
      payloads[i].assign(cps.begin(), cps.end());  // each code point is one Latin-1 byte
      t.compression = PNG_TEXT_COMPRESSION_NONE;
    } else {
      payloads[i] = text[i].text;
      t.compression = PNG_ITXT_COMPRESSION_NONE;
      t.lang = const_cast<char*>("");
      t.lang_key = const_cast<char*>("");
    }
    t.key = keys[i].data();
    t.text = payloads[i].data();
    if (latin1) {
      t.text_length = payloads[i].size();
    } else {
      t.itxt_length = payloads[i].size();
    }
    e.text_chunks.push_back(t);
  }
  e.rows.resize(img.height);
  for (int y = 0; y < img.height; ++y) e.rows[y] = const_cast<png_bytep>(img.row(y));

  e.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &e, on_png_error, on_png_warning);
  if (!e.png) throw Error("cannot initialise libpng");
  e.info = png_create_info_struct(e.png);
  if (!e.info) throw Error("cannot initialise libpng");
  if (!run_libpng_write(e, img, compression_level))
    throw Error(std::string("PNG encoding failed: ") + e.message);
  return std::move(e.out);
}

void write_png(const std::string& path, const Image& img, const std::vector<PngText>& text,
               int compression_level) {
  const std::vector<uint8_t> bytes = encode_png(img, text, compression_level);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error("cannot open for writing", path);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) throw Error("write failed", path);
}

}  // namespace ipa::image
