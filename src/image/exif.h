// EXIF orientation, applied the way diffusers' load_image does it (PIL.ImageOps.exif_transpose):
// orientation 2..8 in IFD0 turns the stored pixels into the viewed image; anything else,
// including a missing or malformed EXIF block, leaves the pixels as stored.
#pragma once
#include <cstddef>
#include <cstdint>

#include "image/image.h"

namespace ipa::image {

// The Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF payload, which may start with
// the "Exif\0\0" header (JPEG APP1, some PNG eXIf / WebP EXIF writers) or directly with "II"/"MM".
// Returns 1..8, or 0 when the tag is absent, malformed or out of range. Never reads out of bounds.
int exif_orientation(const uint8_t* data, size_t size);

// The image as it is meant to be viewed for an EXIF orientation value (PIL's transpose table:
// 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse,
// 8 rotate 90 counter-clockwise). Other values return a copy of `img`.
Image apply_exif_orientation(const Image& img, int orientation);

}  // namespace ipa::image
