// Images in and out of the VAE and the ControlNet as diffusers' VaeImageProcessor prepares them
// (PIL path, resample "lanczos", resize_mode "default"): resized to the asked size when it
// differs — stretched, the aspect ratio is not kept — then scaled to [0, 1] and, for the VAE,
// normalised to [−1, 1].
#pragma once
#include "image/image.h"
#include "tensor/tensor.h"

namespace ipa::image {

// VaeImageProcessor.get_default_height_width: the image's size rounded down to a multiple of
// `factor` (the size an img2img output takes when none is asked for).
struct PixelSize {
  int width = 0, height = 0;
};
PixelSize rounded_down_size(const Image& img, int factor);

// image_processor.preprocess(image, height, width): F32 [1, 3, height, width] in [−1, 1].
Tensor vae_pixels(const Image& img, int width, int height);
// control_image_processor (do_normalize=False): F32 [1, 3, height, width] in [0, 1].
Tensor unit_pixels(const Image& img, int width, int height);
// The image at width × height (PIL Lanczos; the image itself when the size already fits).
Image resized_to(const Image& img, int width, int height);

}  // namespace ipa::image
