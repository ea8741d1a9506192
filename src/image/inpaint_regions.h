// The image operations around inpainting that diffusers does with PIL, reproduced with PIL's
// integer arithmetic:
//   * gaussian_blur: ImageFilter.GaussianBlur(radius) (three extended box blurs), what
//     VaeImageProcessor.blur applies to a mask;
//   * mask_crop_region / crop / resize_fill: padding_mask_crop — the region around the mask,
//     grown to the output's aspect ratio, cut out and resized to the output ("fill" mode);
//   * overlay_unmasked: VaeImageProcessor.apply_overlay — the original pasted back where the
//     mask is black (the mask's grey levels blend), the generated crop put back in place.
#pragma once
#include <optional>

#include "image/image.h"

namespace ipa::image {

// PIL's GaussianBlur(radius) on every channel (a grey mask's three equal channels blur as its
// L image would). radius 0 returns the image.
Image gaussian_blur(const Image& img, float radius);

// Pixel box [x1, x2) × [y1, y2).
struct CropBox {
  int x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  int width() const { return x2 - x1; }
  int height() const { return y2 - y1; }
};
// VaeImageProcessor.get_crop_region: the smallest box holding every non-black pixel of the
// mask's luma, grown by `pad` on each side, then grown to the aspect ratio width:height (kept
// inside the image). An all-black mask gives an empty region (the caller refuses it).
CropBox mask_crop_region(const Image& mask, int width, int height, int pad);
Image crop(const Image& img, const CropBox& box);
// VaeImageProcessor._resize_and_fill: resized to fit width × height keeping the aspect ratio,
// centred, the empty bands filled by stretching the edge rows or columns.
Image resize_fill(const Image& img, int width, int height);
// VaeImageProcessor._resize_and_crop: resized to cover width × height keeping the aspect
// ratio, centred, the excess cut.
Image resize_crop(const Image& img, int width, int height);

// VaeImageProcessor.apply_overlay(mask, init, generated, crop): `init` (the original image,
// the mask's size) over `generated` with alpha 255 − luma(mask). With `crop`, `generated` is
// first resized ("crop" mode) into the box and placed on a transparent canvas of the
// original's size.
Image overlay_unmasked(const Image& mask, const Image& init, const Image& generated,
                       const std::optional<CropBox>& crop);

}  // namespace ipa::image
