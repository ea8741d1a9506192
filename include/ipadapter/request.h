// ipadapter.cpp public API: one generation, fully decoded and typed. Callers (the CLI, the
// server, library users) read files and parse strings; the engine only sees values.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ipadapter/image.h"
#include "ipadapter/types.h"

namespace ipa {

// diffusers' set_ip_adapter_scale dictionary for one part of the UNet ("down" or "up"): a
// number for every block with attention, or per block (`block_<i>`, i = the index in
// unet.down_blocks / up_blocks) a number or one number per transformer (attentions.j).
struct PartScales {
  std::optional<float> all;                  // {"down": 0.5}
  std::map<int, std::vector<float>> blocks;  // {"down": {"block_2": [0.0, 1.0]}}; one
                                             // number = every transformer of the block
};
// The whole dictionary. Parts, blocks and transformers not named get 0, as diffusers does.
struct BlockScales {
  std::optional<PartScales> down, up;
  std::optional<float> mid;
};

// Per-layer weightings by name: InstantStyle's blocks (style, composition,
// style_and_composition) and ComfyUI_IPAdapter_plus's weight types (docs/controls.md has
// every table and its source).
enum class LayerPreset {
  None,
  Style,                // InstantStyle: SDXL up_blocks.0.attentions.1; SD1.5: ComfyUI's style
  Composition,          // InstantStyle: SDXL down_blocks.2.attentions.1; SD1.5: ComfyUI's
  StyleAndComposition,  // both, the composition part at weight_composition (default: scale)
  Linear,
  EaseIn,
  EaseOut,
  EaseInOut,
  ReverseInOut,
  WeakInput,
  WeakOutput,
  WeakMiddle,
  StrongMiddle,
  StyleTransfer,  // ComfyUI's "style transfer" (= Style)
  StrongStyleTransfer,
  StyleAndCompositionComfy,  // ComfyUI's "style and composition" (composition at 1.0 unless
                             // weight_composition is given)
};
// "style", "composition", "style_and_composition", "linear", "ease in", ..., "style and
// composition".
const char* layer_preset_name(LayerPreset p);
std::optional<LayerPreset> parse_layer_preset(std::string_view name);
std::vector<std::string> layer_preset_names();

// How several images of one adapter become its tokens when there are no masks
// (ComfyUI_IPAdapter_plus's combine_embeds, on the encoder features before the projection).
enum class CombineImages { Concat, Add, Subtract, Average, NormAverage };
const char* combine_name(CombineImages c);  // "concat", "add", "subtract", "average",
                                            // "norm_average"
std::optional<CombineImages> parse_combine(std::string_view name);

// How the weight enters the image attention (ComfyUI_IPAdapter_plus's embeds_scaling).
enum class EmbedsScaling { VOnly, KV, KVPenalty, KMeanVPenalty };
const char* embeds_scaling_name(EmbedsScaling e);  // "V only", "K+V", "K+V w/ C penalty",
                                                   // "K+mean(V) w/ C penalty"
std::optional<EmbedsScaling> parse_embeds_scaling(std::string_view name);

// The image prompt for one loaded IP-Adapter (EngineOptions::ip_adapters, same order).
struct ImagePrompt {
  ImagePrompt() = default;
  ImagePrompt(std::vector<image::Image> images_, float scale_ = 0.6f)
      : images(std::move(images_)), scale(scale_) {}

  // Decoded reference images. Without masks their tokens are concatenated (one softmax over
  // all, image 0 first), as diffusers does with a list of images; `combine` can merge them.
  std::vector<image::Image> images;
  // The adapter's weight: 0 = text only; the reference's default is 1.0, most demos use
  // 0.5–0.8. It multiplies every layer's weight below.
  float scale = 0.6f;

  // Or precomputed encoder features instead of images (`embed --save-clip`): clip_feature
  // [N, P] (image_embeds) or [N, L, E] (hidden states), and optionally their unconditional
  // counterpart (default: zeros for basic adapters; for plus / full-face it is required).
  FloatArray clip_feature, uncond_clip_feature;
  // The unconditional half of the guidance batch from these images instead of the zero
  // embedding / zero image (ComfyUI's image_negative): one, or one per image.
  std::vector<image::Image> negative_images;

  // One weight per image (only with masks; scale is then not used).
  std::vector<float> image_scales;
  // Per-layer weights: a diffusers dictionary, or a named preset (not both).
  std::optional<BlockScales> block_scales;
  LayerPreset preset = LayerPreset::None;
  std::optional<float> weight_composition;  // presets with a composition part

  // Regional prompts (diffusers' IPAdapterMaskProcessor): one mask per image, white = where the
  // image acts. Each masked image gets its own attention and its own weight.
  std::vector<image::Image> masks;

  CombineImages combine = CombineImages::Concat;
  std::vector<float> image_weights;  // per image, multiplied into the features before combining

  // Step window: the adapter acts in step i of N when start <= i/N < end.
  float start = 0.f, end = 1.f;
  EmbedsScaling embeds_scaling = EmbedsScaling::VOnly;
};

// One loaded ControlNet's input (EngineOptions::controlnets, same order).
struct ControlImage {
  // The condition (edges, depth, pose, ...), RGB; resized to the output size (Lanczos,
  // stretched) and given to the ControlNet in [0, 1].
  image::Image image;
  float scale = 1.0f;  // diffusers' controlnet_conditioning_scale
  // Step window (control_guidance_start / end): the ControlNet acts in step i of the N steps
  // that run unless i/N < start or (i+1)/N > end.
  float start = 0.f, end = 1.f;
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
  // Overrides the scheduler config's timestep_spacing (Default keeps it); LCM / TCD refuse it.
  TimestepSpacing timestep_spacing = TimestepSpacing::Default;
  // DDIM's eta or TCD's gamma (in [0, 1]); unset = the sampler's default (DDIM 0, TCD 0.3).
  // Other samplers ignore it, as diffusers' pipelines do.
  std::optional<float> eta;
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

  // img2img (init_image alone) and inpainting (with mask), as diffusers' Img2Img / Inpaint
  // pipelines: the image is encoded by the VAE (a sample of its latent distribution), noised to
  // the step where `strength` starts, and the last steps run. Without width/height the output
  // takes the init image's size rounded down to a multiple of 8; otherwise the image is resized
  // to the asked size (Lanczos, stretched).
  std::optional<image::Image> init_image;
  // In (0, 1]: the fraction of the steps that run. Unset = diffusers' default for the task and
  // family: img2img 0.8 (SD1.5) / 0.3 (SDXL); inpainting 1.0 (SD1.5) / 0.9999 (SDXL).
  std::optional<double> strength;
  // Inpainting: white = repaint (grey levels binarised at 0.5, as diffusers' mask_processor).
  // A 9-channel inpainting UNet sees the mask and the masked image; an ordinary UNet keeps the
  // unmasked latents by blending them back after every step.
  std::optional<image::Image> mask;
  float mask_blur = 0;         // PIL GaussianBlur radius applied to the mask first (0 = none)
  int padding_mask_crop = 0;   // > 0: work on the mask's region grown by this many pixels, as
                               // diffusers' padding_mask_crop (the result is pasted back)
  bool keep_unmasked = false;  // paste the original back where the mask is black

  // One per loaded ControlNet.
  std::vector<ControlImage> controls;
  // diffusers' guess_mode: the ControlNets see only the conditional half of the guidance batch
  // and their residuals grow from 0.1 (shallow) to 1 (deep).
  bool guess_mode = false;

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
