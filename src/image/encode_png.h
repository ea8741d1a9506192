// Writing 8-bit RGB PNGs, optionally with text chunks (A1111-style `parameters`, for example).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "image/image.h"

namespace ipa::image {

struct PngText {
  std::string keyword;  // 1-79 printable Latin-1 characters, no leading/trailing/double spaces
  std::string text;     // UTF-8
};

// Text whose characters all fit Latin-1 goes into tEXt (as PIL's PngInfo.add_text does),
// anything else into an uncompressed iTXt chunk. Throws ipa::Error for an invalid keyword,
// invalid UTF-8 or a NUL character in the text.
std::vector<uint8_t> encode_png(const Image& img, const std::vector<PngText>& text = {},
                                int compression_level = 6);

// encode_png, then writes the file (throws ipa::Error naming it on failure).
void write_png(const std::string& path, const Image& img, const std::vector<PngText>& text = {},
               int compression_level = 6);

}  // namespace ipa::image
