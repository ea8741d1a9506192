// The denoising loop, shared by every family and task: per step the scheduler scales the
// input, the UNet predicts noise for the guidance batch, classifier-free guidance combines the
// halves, the scheduler steps. Hooks let tasks take part without copying the loop: extra UNet
// inputs per step (ControlNet residuals) and changes to the latents after each step
// (inpainting's blend), plus progress with cancellation.
#pragma once
#include <functional>
#include <vector>

#include "models/unet/unet.h"
#include "pipeline/family_stages.h"
#include "sampling/scheduler.h"

namespace ipa {

// What the UNet sees at every step besides the latents, already batched for guidance.
struct DenoiseConditioning {
  Tensor text;                                                     // [B, L, C]
  AddedConditioning added;                                         // SDXL
  const unet::CrossAttentionExtension* cross_attention = nullptr;  // the image prompt
};

struct DenoiseHooks {
  // Before the UNet call of step `step`, in order (e.g. the image prompt's step window, then
  // ControlNet residuals from the scaled 4-channel input, then an inpainting UNet's extra
  // channels).
  std::vector<std::function<void(size_t step, unet::UNetInputs& in)>> before_unet;
  // After the scheduler step `step`, in order; may change the latents.
  std::vector<std::function<void(size_t step, Tensor& latents)>> after_step;
  // After every step (steps done, total); returning false cancels: denoise throws
  // ipa::Cancelled (after the last step too: the decode is skipped).
  std::function<bool(int done, int total)> on_step;
};

struct DenoiseSettings {
  float cfg = 7.5f;
  bool guidance = true;   // cfg > 1: run the [uncond; cond] batch
  size_t first_step = 0;  // img2img starts later in the schedule
};

// Runs the steps from settings.first_step on `latents` (already scaled by init_noise_sigma);
// returns the final latents. With `step_latents`, a copy after every step is appended.
Tensor denoise(const unet::UNet2DConditionModel& unet, sampling::Scheduler& scheduler,
               Tensor latents, const DenoiseConditioning& conditioning,
               const DenoiseSettings& settings, sampling::NoiseSource* noise,
               const DenoiseHooks& hooks, std::vector<Tensor>* step_latents);

}  // namespace ipa
