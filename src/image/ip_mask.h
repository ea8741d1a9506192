// IP-Adapter region masks as diffusers' IPAdapterMaskProcessor.preprocess makes them from an
// image (PIL path): resized to the output size with PIL's Lanczos in the image's own mode,
// converted to luma ("L": 299/587/114 per mille, PIL's integer rounding), scaled to [0, 1] and
// binarised (>= 0.5 → 1, so bytes of 128 and above). White = where the reference acts.
#pragma once
#include "image/image.h"
#include "tensor/tensor.h"

namespace ipa::image {

// F32 [height, width] of 0 and 1.
Tensor ip_adapter_mask(const Image& mask, int width, int height);

// Whether every pixel of a binarised mask is 0 (a mask that turns its image off).
bool mask_is_empty(const Tensor& mask);

}  // namespace ipa::image
