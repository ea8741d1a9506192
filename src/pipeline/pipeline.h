// Stable Diffusion 1.5 text+image-prompt generation (txt2img), composed from the models the way
// diffusers' StableDiffusionPipeline and tencent-ailab's IPAdapter.generate do it.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "image/image.h"
#include "tensor/tensor.h"

namespace ipa {

class ClipTokenizer;
class ClipTextEncoder;
class ClipVisionModel;
class ImagePromptEncoder;
class IpAdapter;
namespace unet {
class UNet2DConditionModel;
}
namespace vae {
class AutoencoderKL;
}

// What to load. `base` is a diffusers folder (model_index.json, unet/, vae/, text_encoder/,
// tokenizer/ (optional: the built-in CLIP vocabulary is used without one), scheduler/).
struct PipelineOptions {
  std::string base;
  std::string ip_adapter;     // optional: without it, plain text-to-image
  std::string image_encoder;  // optional: found beside the adapter in the h94 layout
  // One generation per process (the CLI's `generate`): each model is held only while this
  // generation needs it. The UNet is loaded after the encoders have run and been released,
  // and released itself before the VAE decodes, so the peak memory is that of the largest
  // phase rather than of all models together. A second generate() is then an error.
  // Otherwise (a library caller or server making many generations) everything stays loaded.
  bool one_shot = false;
};

// Everything about one generation.
struct GenerateRequest {
  std::string prompt;
  std::string negative_prompt;
  std::vector<std::string> images;  // reference image files; their tokens are concatenated
  std::string image_prep = "crop";  // "crop" (CLIPImageProcessor) or "squash"
  float ip_scale = 0.6f;
  int steps = 30;
  float cfg = 7.5f;
  std::string sampler;  // "" = the base model's scheduler config
  uint64_t seed = 0;
  int width = 512, height = 512;
  int num_images = 1;
  int clip_skip = 0;
  float eta = 0.f;  // DDIM only
  // VAE decode tiling: "auto" (large images only), "on" (diffusers' enable_tiling) or "off";
  // see vae::TilingOptions.
  std::string vae_tiling = "auto";
  Tensor init_latents;  // optional [num_images, 4, H/8, W/8], before init_noise_sigma scaling
  bool keep_step_latents = false;
};

struct GenerateResult {
  std::vector<image::Image> images;
  Tensor final_latents;
  std::vector<Tensor> step_latents;  // when keep_step_latents
  std::string parameters;            // A1111-style description for the PNG text chunk
  double text_encode_s = 0, image_encode_s = 0, denoise_s = 0, vae_decode_s = 0;
  double unet_load_s = 0;  // one-shot pipelines load the UNet inside generate()
};

// Called after each denoising step: (steps done, total, seconds since sampling began).
using ProgressFn = std::function<void(int, int, double)>;
// Messages for the user (what was loaded, warnings).
using LogFn = std::function<void(const std::string&)>;

class Pipeline {
 public:
  static std::unique_ptr<Pipeline> load(const PipelineOptions& options, const LogFn& log = {});
  ~Pipeline();

  GenerateResult generate(const GenerateRequest& request, const ProgressFn& progress = {});

  // The models, for benchmarks and tools that run them directly. unet() loads the UNet (with
  // the adapter's layers) if it is not loaded, e.g. in a one-shot pipeline after generate().
  unet::UNet2DConditionModel& unet();
  const IpAdapter* ip_adapter() const;  // null without one

 private:
  Pipeline();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ipa
