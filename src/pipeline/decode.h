// Latents → images: the VAE decode (tiled as asked) and diffusers' post-processing
// ((x / 2 + 0.5) clamped to [0, 1], ·255 rounded half to even, as numpy does).
#pragma once
#include <vector>

#include "image/image.h"
#include "models/vae/autoencoder_kl.h"

namespace ipa {

// UNet-space latents [N, C, h, w] → decoded pixels [N, 3, H, W] in about [-1, 1].
Tensor decode_latents(const vae::AutoencoderKL& vae, const Tensor& latents,
                      const vae::TilingOptions& tiling);
// Decoded pixels [N, 3, H, W] → N RGB images.
std::vector<image::Image> to_images(const Tensor& decoded);

}  // namespace ipa
