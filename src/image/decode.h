// Decoding PNG, JPEG and WebP files into 8-bit RGB with the pixels PIL gives for
// `Image.open(f)` [+ `ImageOps.exif_transpose`] + `.convert("RGB")`:
//  - the format comes from the magic bytes, never from the file name;
//  - alpha is dropped (no compositing), grey is replicated, palettes are expanded (tRNS ignored);
//  - 16-bit samples keep their high byte;
//  - JPEG uses libjpeg's defaults (integer "islow" IDCT, fancy upsampling), as PIL does;
//  - an animated WebP gives its first frame.
// Any problem (missing/empty file, unknown format, truncated or corrupt data, zero or oversized
// dimensions) throws ipa::Error naming the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "image/image.h"

namespace ipa::image {

enum class ImageFormat { kPng, kJpeg, kWebP };

const char* format_name(ImageFormat format);

// The format recognised from the first bytes, or nullopt.
std::optional<ImageFormat> detect_image_format(const uint8_t* data, size_t size);

struct DecodeOptions {
  // diffusers' load_image applies the EXIF orientation; a bare PIL.Image.open (what the IP-Adapter
  // demos and the CLIP goldens use) does not. Only images that carry an orientation differ.
  bool apply_exif_orientation = true;
  // Refused before anything is allocated when width x height is larger (at most kMaxImagePixels).
  int64_t max_pixels = kMaxImagePixels;
};

// What the file was, for messages and `inspect`.
struct DecodeInfo {
  ImageFormat format = ImageFormat::kPng;
  std::string source_mode;  // PIL's mode name of the stored pixels: "RGB", "RGBA", "L", "LA", "P",
                            // "CMYK", ...
  int source_width = 0, source_height = 0;  // as stored, before any EXIF orientation
  int exif_orientation = 0;                 // 0 when absent
};

// Decodes an image held in memory; `name` is used in error messages only.
Image decode_image(const uint8_t* data, size_t size, const std::string& name,
                   const DecodeOptions& options = {}, DecodeInfo* info = nullptr);

// Reads and decodes a file.
Image read_image(const std::string& path, const DecodeOptions& options = {},
                 DecodeInfo* info = nullptr);

}  // namespace ipa::image
