// The initial-latents stage: where the denoising starts, for each task.
//   txt2img:  noise from the seed (or the caller's latents) × init_noise_sigma, every step.
//   img2img:  the init image's VAE latents (a sample of the latent distribution) noised to the
//             step where `strength` starts; the last steps run.
//   inpaint:  the same, plus the mask at latent size and the masked image's latents; a 9-channel
//             UNet sees them at every step, an ordinary UNet gets the unmasked latents blended
//             back after every step.
// RNG draws follow diffusers' order exactly (each case's golden JSON records it), so a seed gives
// diffusers' image.
#pragma once
#include <optional>

#include "image/inpaint_regions.h"
#include "ipadapter/request.h"
#include "models/vae/autoencoder_kl.h"
#include "pipeline/denoise.h"
#include "sampling/scheduler.h"

namespace ipa {

enum class Task { Txt2Img, Img2Img, Inpaint };

// The request's images at the output size, before any model runs (a bad mask is refused here).
struct InitImages {
  Tensor pixels;         // [1, 3, H, W] in [−1, 1]
  Tensor mask;           // inpaint: [1, 1, H, W] of 0 and 1 (1 = repaint)
  Tensor masked_pixels;  // inpaint: pixels × (mask < 0.5)
  // What the overlay needs (padding_mask_crop or keep_unmasked): the original image, its mask
  // (blurred, at the original's size) and the crop box.
  bool overlay = false;
  image::Image original, original_mask;
  std::optional<image::CropBox> crop;
};
InitImages prepare_init_images(const GenerateRequest& r, Task task, int width, int height,
                               const LogFn& warn);

// diffusers' default strength for the task and family.
double default_strength(Task task, ModelFamily family);

// Where denoising starts and what the steps need.
struct StartLatents {
  Tensor latents;  // at the first step's noise level
  size_t first_step = 0;
  // inpaint
  Tensor image_latents, noise;  // [n, C, h, w] (the legacy blend re-noises image_latents)
  Tensor mask_latent;           // [n, 1, h, w]
  Tensor masked_image_latents;  // [n, C, h, w]
};

struct StartSettings {
  Task task = Task::Txt2Img;
  Shape latent_shape;                     // [n, C, h, w]
  double strength = 1.0;                  // img2img / inpaint
  bool nine_channel = false;              // the UNet takes mask + masked-image latents
  const Tensor* given_latents = nullptr;  // txt2img: the caller's noise instead of the seed's
};

// Encodes with `vae` where the task needs it (img2img, inpaint) and draws from `generator` in
// diffusers' order. The scheduler must have its timesteps set.
StartLatents start_latents(const StartSettings& s, const InitImages& images,
                           const vae::AutoencoderKL* vae, const vae::TilingOptions& tiling,
                           sampling::Scheduler& scheduler, sampling::NoiseSource& generator);

// The inpainting steps' hooks: the 9-channel UNet's extra inputs (after the scheduler's input
// scaling, as diffusers concatenates them), or the legacy blend after every step.
void add_inpaint_hooks(const StartLatents& start, bool nine_channel, bool guidance,
                       const sampling::Scheduler& scheduler, DenoiseHooks* hooks);

// Pastes the original back (padding_mask_crop, keep_unmasked); identity otherwise.
image::Image finish_image(const InitImages& images, const image::Image& generated);

}  // namespace ipa
