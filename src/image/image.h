// The RGB image type (public: ipadapter/image.h) and the size limits every decoder and resizer
// enforces.
#pragma once
#include <cstdint>
#include <string>

#include "ipadapter/image.h"

namespace ipa::image {

// Decoders refuse anything larger before allocating: bigger inputs are almost always corrupt
// headers or decompression bombs, and no CLIP/VAE input needs them.
inline constexpr int64_t kMaxImageSide = 16384;
inline constexpr int64_t kMaxImagePixels = int64_t(1) << 28;

// Throws ipa::Error naming `name` when width x height is zero, negative or over the limits
// (`max_pixels`: a caller's tighter limit on width x height, e.g. the server's).
void check_image_dimensions(int64_t width, int64_t height, const std::string& name,
                            int64_t max_pixels = kMaxImagePixels);

}  // namespace ipa::image
