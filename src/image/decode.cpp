#include "image/decode.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "base/mapped_file.h"
#include "image/decode_codecs.h"
#include "image/exif.h"

namespace ipa::image {

void check_image_dimensions(int64_t width, int64_t height, const std::string& name,
                            int64_t max_pixels) {
  if (width <= 0 || height <= 0)
    throw Error(
        "image has zero size (" + std::to_string(width) + "x" + std::to_string(height) + ")", name);
  max_pixels = std::min(max_pixels, kMaxImagePixels);
  if (width > kMaxImageSide || height > kMaxImageSide || width * height > max_pixels)
    throw Error("image is too large (" + std::to_string(width) + "x" + std::to_string(height) +
                    "; the limit is " + std::to_string(kMaxImageSide) + " pixels per side and " +
                    std::to_string(max_pixels) + " pixels in all)",
                name);
}

const char* format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kWebP:
      return "WebP";
  }
  return "?";
}

std::optional<ImageFormat> detect_image_format(const uint8_t* data, size_t size) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return ImageFormat::kPng;
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat::kJpeg;
  if (size >= 12 && std::memcmp(data, "RIFF", 4) == 0 && std::memcmp(data + 8, "WEBP", 4) == 0)
    return ImageFormat::kWebP;
  return std::nullopt;
}

Image decode_image(const uint8_t* data, size_t size, const std::string& name,
                   const DecodeOptions& options, DecodeInfo* info) {
  if (size == 0) throw Error("image file is empty", name);
  const std::optional<ImageFormat> format = detect_image_format(data, size);
  if (!format) throw Error("not a PNG, JPEG or WebP image (unrecognised leading bytes)", name);

  detail::RawDecode raw;
  switch (*format) {
    case ImageFormat::kPng:
      raw = detail::decode_png(data, size, name, options.max_pixels);
      break;
    case ImageFormat::kJpeg:
      raw = detail::decode_jpeg(data, size, name, options.max_pixels);
      break;
    case ImageFormat::kWebP:
      raw = detail::decode_webp(data, size, name, options.max_pixels);
      break;
  }
  const int orientation = raw.exif.empty() ? 0 : exif_orientation(raw.exif.data(), raw.exif.size());
  if (info) {
    info->format = *format;
    info->source_mode = raw.mode;
    info->source_width = raw.image.width;
    info->source_height = raw.image.height;
    info->exif_orientation = orientation;
  }
  if (options.apply_exif_orientation && orientation >= 2 && orientation <= 8)
    return apply_exif_orientation(raw.image, orientation);
  return std::move(raw.image);
}

Image read_image(const std::string& path, const DecodeOptions& options, DecodeInfo* info) {
  const std::shared_ptr<MappedFile> file = MappedFile::open(path);
  return decode_image(file->data(), file->size(), path, options, info);
}

}  // namespace ipa::image
