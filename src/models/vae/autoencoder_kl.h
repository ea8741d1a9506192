// diffusers AutoencoderKL (the Stable Diffusion VAE): encode images to a diagonal Gaussian
// over latents, decode latents to images.
//
// Latent spaces — which one each call takes:
//   * VAE space: what encode() describes and decode() consumes (diffusers' latent_dist and
//     vae.decode's input).
//   * UNet space: what the scheduler loop works in:
//       unet = (vae − shift_factor) · scaling_factor        (to_unet_latents)
//       vae  = unet / scaling_factor + shift_factor          (to_vae_latents)
//     shift_factor is 0 when the config has none (SD1.5, SDXL). diffusers' SD pipelines call
//     vae.decode(latents / scaling_factor), i.e. decode(to_vae_latents(latents)).
#pragma once
#include <optional>
#include <string>

#include "models/vae/vae_config.h"
#include "models/vae/vae_decoder.h"
#include "models/vae/vae_encoder.h"

namespace ipa::vae {

// DiagonalGaussianDistribution over VAE-space latents, each [B, latent, h, w].
struct LatentDistribution {
  Tensor mean;
  Tensor logvar;  // clamped to [−30, 20]
  Tensor std;     // exp(0.5 · logvar)
  // mean + std · noise, with `noise` shaped like mean (standard normal, e.g. from a
  // generator): diffusers' latent_dist.sample(generator).
  Tensor sample(const Tensor& noise) const;
  // latent_dist.mode()
  const Tensor& mode() const { return mean; }
};

class AutoencoderKL {
 public:
  // A diffusers `vae/` folder: config.json + diffusion_pytorch_model.safetensors (F32/F16),
  // or any other weights file open_model_folder() accepts (.fp16, sharded, .bin).
  static AutoencoderKL load(const std::string& dir);
  // From weights named like the diffusers checkpoint (`encoder.…`, `decoder.…`,
  // `quant_conv.…`, `post_quant_conv.…`) relative to `ws`.
  AutoencoderKL(const VaeConfig& config, const WeightScope& ws);

  const VaeConfig& config() const { return config_; }

  // image F32 [B, in_channels, H, W], values in [−1, 1] → latent distribution in VAE space
  // ([B, latent, ⌈H/f⌉, ⌈W/f⌉] for even sizes; f = downscale_factor()). Includes quant_conv.
  LatentDistribution encode(const Tensor& image) const;
  // z F32 [B, latent_channels, h, w] in VAE space (see the top of this file) → image
  // [B, out_channels, h·f, w·f], roughly in [−1, 1] (not clamped). Includes post_quant_conv.
  Tensor decode(const Tensor& z) const;

  Tensor to_unet_latents(const Tensor& vae_latents) const;
  Tensor to_vae_latents(const Tensor& unet_latents) const;

 private:
  VaeConfig config_;
  VaeEncoder encoder_;
  VaeDecoder decoder_;
  std::optional<ops::Conv2d> quant_conv_, post_quant_conv_;
};

}  // namespace ipa::vae
