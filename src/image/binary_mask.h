// Masks as diffusers' VaeImageProcessor(do_normalize=False, do_binarize=True,
// do_convert_grayscale=True) makes them from an image (PIL path) — the processor behind both
// IPAdapterMaskProcessor (IP-Adapter region masks) and the inpainting pipelines'
// mask_processor: resized to the output size with PIL's Lanczos in the image's own mode,
// converted to luma ("L": 299/587/114 per mille, PIL's integer rounding), scaled to [0, 1] and
// binarised (>= 0.5 → 1, so bytes of 128 and above). White = where the mask acts (the
// reference's region, or the region to repaint).
#pragma once
#include "image/image.h"
#include "tensor/tensor.h"

namespace ipa::image {

// F32 [height, width] of 0 and 1.
Tensor binary_mask(const Image& mask, int width, int height);

// Whether every pixel of a binarised mask is 0 (a mask that turns its image off).
bool mask_is_empty(const Tensor& mask);

}  // namespace ipa::image
