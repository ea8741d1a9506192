// ipadapter.cpp public API: one generation, fully decoded and typed. Callers (the CLI, the
// server, library users) read files and parse strings; the engine only sees values.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "ipadapter/image.h"
#include "ipadapter/types.h"

namespace ipa {

// The image prompt for one loaded IP-Adapter (EngineOptions::ip_adapters, same order).
struct ImagePrompt {
  // Decoded reference images. Several images' tokens are concatenated (one softmax over all,
  // image 0 first), as diffusers does with a list of images.
  std::vector<image::Image> images;
  // The adapter's weight in every cross-attention layer: 0 = text only; the reference's default
  // is 1.0, most demos use 0.5–0.8.
  float scale = 0.6f;
};

struct GenerateRequest {
  std::string prompt;
  // Unset: the empty prompt (SD1.5), or zero embeddings where the model asks for them
  // (SDXL's force_zeros_for_empty_prompt), exactly as diffusers treats negative_prompt=None.
  std::optional<std::string> negative_prompt;
  // SDXL's second text encoder; unset = the same text as prompt / negative_prompt.
  std::optional<std::string> prompt_2;
  std::optional<std::string> negative_prompt_2;

  // One entry per loaded adapter (none without adapters).
  std::vector<ImagePrompt> image_prompts;
  ImagePrep image_prep = ImagePrep::Crop;

  int steps = 30;
  // Classifier-free guidance scale; unset = the family's default (SD1.5 7.5, SDXL 5.0, as
  // diffusers). 1 or less runs without guidance (one UNet batch instead of two).
  std::optional<float> cfg;
  Sampler sampler = Sampler::Default;
  float eta = 0.f;  // DDIM's eta (other samplers ignore it, as diffusers' pipelines do)
  uint64_t seed = 0;
  // 0 = the model's default size (UNet sample_size × VAE scale factor: 512 for SD1.5, 1024 for
  // SDXL). Otherwise multiples of 8.
  int width = 0, height = 0;
  int num_images = 1;
  int clip_skip = 0;  // skip the last N text-encoder layers
  VaeTiling vae_tiling = VaeTiling::Auto;

  // SDXL micro-conditioning (add_time_ids). Unset original/target size = the output size.
  std::optional<ImageSize> original_size;
  std::optional<ImageSize> target_size;
  int crop_top = 0, crop_left = 0;

  // Optional starting noise [num_images, latent channels, height/8, width/8], before the
  // scheduler's init_noise_sigma scaling (diffusers' `latents=`). Empty = drawn from `seed`.
  FloatArray init_latents;
  // Return the latents after every step (GenerateResult::step_latents).
  bool keep_step_latents = false;

  // Checks each field on its own (ranges, finite numbers, sizes); throws ipa::Error naming the
  // field. Checks against the loaded models (adapter count, latent shape, default sizes) are
  // Engine::check's.
  void validate() const;
};

}  // namespace ipa
