// ipadapter.cpp public API: the engine. It loads one base model (a Stable Diffusion 1.5 or XL
// pipeline folder), any number of IP-Adapters with their image encoders, holds them, and runs
// generate() as often as asked.
//
//   ipa::EngineOptions o;
//   o.base = "stable-diffusion-v1-5";
//   o.ip_adapters = {{"IP-Adapter/models/ip-adapter_sd15.safetensors"}};
//   auto engine = ipa::Engine::load(o);
//   ipa::GenerateRequest r;
//   r.prompt = "a photo of a cat";
//   r.image_prompts = {{{ipa::read_image("cat.png")}, 0.6f}};
//   ipa::GenerateResult out = engine->generate(r);
//
// Thread safety: Engine::load may run in several threads at once. One engine runs one
// generation at a time: concurrent generate() calls on the same engine are serialised (the
// second waits). Different engines may generate concurrently from different threads, each with
// its own ComputeOptions::threads. info() may be called from any thread at any time. Callbacks
// run on the thread that called generate().
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ipadapter/error.h"
#include "ipadapter/image.h"
#include "ipadapter/request.h"
#include "ipadapter/types.h"

namespace ipa {

using LogFn = std::function<void(const std::string&)>;

// Every model path below may also be a Hugging Face repo id, with the path inside the repo
// where it names a file ("h94/IP-Adapter/models/ip-adapter_sd15.safetensors"), found in the
// local hub cache at EngineOptions::revision (docs/models.md); an existing local path wins.

struct AdapterOptions {
  std::string file;           // a released IP-Adapter .bin or .safetensors, unchanged
  std::string image_encoder;  // CLIP vision folder; empty = found beside the adapter by width
};

// A ControlNet: a diffusers folder (config.json + weights), or one weights file in diffusers'
// or the original (lllyasviel, `control_model.`) names.
struct ControlNetOptions {
  std::string file;
  // For a single file: a folder whose config.json describes it; empty = the family's standard
  // ControlNet config.
  std::string config;
};

// A LoRA (kohya/A1111 or diffusers/PEFT file) merged into the UNet's and text encoders'
// weights at load: W + weight · alpha / rank · up · down (docs/lora.md). An engine option, not
// a request field, because it changes the loaded weights: another LoRA or weight is another
// engine (loading one costs a model load, not a re-merge per generation).
struct LoraOptions {
  std::string file;
  float weight = 1.0f;
};

struct EngineOptions {
  // A diffusers pipeline folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
  // scheduler/; SDXL adds text_encoder_2/ and tokenizer_2/): the family comes from
  // model_index.json's _class_name and the UNet config. Or a single-file SD1.x / SDXL
  // checkpoint (.safetensors / .ckpt in the original LDM / SGM layout, as fine-tunes are
  // shared): the family comes from its key names; other families are refused.
  std::string base;
  // For a single-file base: a diffusers pipeline folder whose configs describe it (diffusers'
  // from_single_file(config=...)); empty = the family's standard full-size configs.
  std::string base_config;
  // A VAE used instead of the base's: a diffusers VAE folder, or one file (diffusers or original
  // names, e.g. vae-ft-mse-840000-ema-pruned.safetensors, sdxl_vae.safetensors).
  std::string vae;
  std::vector<AdapterOptions> ip_adapters;
  // A UNet folder used instead of the base's unet/ (an inpainting UNet with 9 input channels,
  // a fine-tuned UNet of the same family).
  std::string unet;
  std::vector<ControlNetOptions> controlnets;
  // The revision of models named by repo id: a branch or tag (refs/ in the cache) or a commit
  // hash; empty = "main".
  std::string revision;
  // The weights variant preferred in every model folder, as diffusers' `variant=`: "fp16"
  // reads model.fp16.safetensors / diffusion_pytorch_model.fp16.safetensors /
  // model_state.fp16.pdparams where a folder also holds the full-precision file; empty = full
  // precision (a folder holding only a variant is still read).
  std::string variant;
  // Summed in this order; checked (names, shapes, family) at load before anything is merged.
  std::vector<LoraOptions> loras;
  ComputeOptions compute;
  // One generation per engine (the CLI's `generate`): each model is loaded only for the phase
  // that needs it (text encoders, then image encoders, then the UNet, then the VAE decode), so
  // the peak memory is that of the largest phase. Every file is still opened and checked by
  // load(). A second generate() is an error. Otherwise everything stays loaded.
  bool one_shot = false;
  LogFn log;  // what was loaded, warnings
};

// What load() found.
struct AdapterDescription {
  std::string file;
  std::string image_encoder;  // the folder used
  std::string variant;        // "basic", "plus", "full-face"
  int64_t tokens_per_image = 0;
  int64_t width = 0;  // token width (the UNet's cross_attention_dim)
};

struct EngineInfo {
  ModelFamily family = ModelFamily::SD15;
  std::string base;
  std::string pipeline_class;   // model_index.json's _class_name
  std::string scheduler_class;  // the base model's default scheduler
  int default_width = 0, default_height = 0;
  float default_cfg = 7.5f;
  int64_t latent_channels = 4;
  int64_t unet_in_channels = 4;          // 9 for an inpainting UNet
  std::vector<std::string> controlnets;  // the files loaded
  std::vector<LoraOptions> loras;        // as merged
  int vae_scale_factor = 8;
  std::vector<AdapterDescription> adapters;
  ComputeOptions compute;  // as resolved (threads > 0)
};

struct StepProgress {
  int step = 0;          // steps done
  int total = 0;         // steps in this generation
  double elapsed_s = 0;  // since the first step began
};

struct Callbacks {
  // After every denoising step; return false to cancel: generate() then throws ipa::Cancelled
  // before the next step, and the engine stays usable.
  std::function<bool(const StepProgress&)> on_step;
  LogFn on_log;  // warnings about this request (a truncated prompt, ...)
};

struct Timings {
  double unet_load_s = 0;  // one-shot engines load the UNet inside generate()
  double text_encode_s = 0, image_encode_s = 0, vae_encode_s = 0, denoise_s = 0, vae_decode_s = 0;
  // Building the VAE decoder and packing its weights for this size: one-shot engines do it
  // after the denoising (the UNet has gone by then); kept models did it at load for their
  // default size (then only new sizes cost time here).
  double vae_load_s = 0;
};

struct GenerateResult {
  std::vector<image::Image> images;      // num_images
  FloatArray final_latents;              // [num_images, C, h, w] before the VAE
  std::vector<FloatArray> step_latents;  // after each step, with keep_step_latents
  std::string sampler_class;             // the diffusers scheduler that ran
  int width = 0, height = 0;             // as generated (defaults resolved)
  float cfg = 0;                         // as used
  double strength = 0;                   // img2img / inpainting: as used (defaults resolved)
  Timings timings;
};

class Engine {
 public:
  // Loads and checks everything; throws ipa::Error naming the file and what is wrong (a
  // missing part, an unknown model family, an adapter made for the other family, an image
  // encoder that does not fit) before any slow work.
  static std::unique_ptr<Engine> load(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const EngineInfo& info() const;

  // Checks the request against the loaded models (and request.validate()); throws ipa::Error
  // naming the field. generate() does this first, before any model runs.
  void check(const GenerateRequest& request) const;

  // One generation. The loaded models are not changed by it (scales, tokens and every other
  // per-request setting travel with the call), so the same request gives the same images
  // again.
  GenerateResult generate(const GenerateRequest& request, const Callbacks& callbacks = {});

 private:
  Engine();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The A1111-style `parameters` text (prompt, negative prompt, steps, sampler, CFG, seed, size,
// adapters and scales) that image tools read from a PNG's text chunk.
std::string generation_parameters(const EngineInfo& info, const GenerateRequest& request,
                                  const GenerateResult& result);

}  // namespace ipa
