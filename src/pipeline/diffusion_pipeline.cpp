#include "pipeline/diffusion_pipeline.h"

#include <chrono>
#include <cmath>
#include <sstream>

#include "adapter/ip_attention.h"
#include "adapter/layer_weights.h"
#include "image/binary_mask.h"
#include "image/vae_image.h"
#include "models/common/load_layers.h"
#include "ops/ops.h"
#include "pipeline/decode.h"
#include "pipeline/denoise.h"
#include "pipeline/guidance_batch.h"
#include "pipeline/init_latents.h"
#include "pipeline/lora.h"
#include "sampling/scheduler.h"
#include "sampling/scheduler_config.h"
#include "sampling/torch_rng.h"
#include "tensor/block_pool.h"

namespace ipa {

namespace {

using clock = std::chrono::steady_clock;

double seconds_since(clock::time_point t0) {
  return std::chrono::duration<double>(clock::now() - t0).count();
}

vae::Tiling to_vae_tiling(VaeTiling t) {
  switch (t) {
    case VaeTiling::On:
      return vae::Tiling::kOn;
    case VaeTiling::Off:
      return vae::Tiling::kOff;
    case VaeTiling::Auto:
      break;
  }
  return vae::Tiling::kAuto;
}

Tensor to_tensor(const FloatArray& a) {
  return Tensor::from_floats(Shape(a.shape.begin(), a.shape.end()), a.data.data());
}

std::string format_weight(float w) {
  std::ostringstream o;
  o << w;
  return o.str();
}

FloatArray to_float_array(const Tensor& t) {
  return {Shape(t.shape().begin(), t.shape().end()), t.to_floats()};
}

}  // namespace

// How one adapter acts, from its image prompt: weights per layer and per group (all images,
// or one per masked image).
struct AdapterPlan {
  std::vector<float> layer_scales;
  std::vector<float> group_scales;
};

struct DiffusionPipeline::Resolved {
  Task task = Task::Txt2Img;
  double strength = 1.0;
  bool nine_channel = false;  // the UNet takes mask + masked-image latents
  int width = 0, height = 0;
  float cfg = 0;
  bool guidance = false;
  Shape latent_shape;
  std::unique_ptr<sampling::Scheduler> scheduler;  // with its timesteps set
  std::vector<AdapterPlan> adapters;
};

namespace {

// Checks one adapter's image prompt against the models and works out its weights. With masks
// the per-layer weights are factors (the preset at weight 1) and each image's weight multiplies
// them; without, they are the weights themselves.
AdapterPlan plan_adapter(size_t i, const ImagePrompt& p, ModelFamily family,
                         const std::vector<unet::CrossAttentionLayer>& layers) {
  const std::string field = "ip_adapters[" + std::to_string(i) + "]";
  const bool embeds = !p.clip_feature.empty();
  if (embeds == !p.images.empty()) {
    throw Error(field +
                ": give either images or image_embeds (precomputed features), one of "
                "them");
  }
  const size_t n = embeds ? static_cast<size_t>(p.clip_feature.shape.at(0)) : p.images.size();
  auto count = [&](size_t k, const char* name, bool allow_one) {
    if (k != 0 && k != n && !(allow_one && k == 1)) {
      throw Error(field + "." + name + ": " + std::to_string(k) + " given for " +
                  std::to_string(n) + " image(s) (one per image" +
                  (allow_one ? std::string(", or one for all") : std::string()) + ")");
    }
  };
  count(p.negative_images.size(), "negative_images", true);
  count(p.masks.size(), "masks", false);
  count(p.image_weights.size(), "image_weights", false);
  count(p.image_scales.size(), "scale", false);
  if (embeds && !p.negative_images.empty()) {
    throw Error(field +
                ".negative_images: image_embeds bring their own unconditional half "
                "(uncond_clip_feature)");
  }
  if (!p.image_scales.empty() && p.masks.empty()) {
    throw Error(field + ".scale: one weight per image needs masks (one per image)");
  }
  if (!p.masks.empty() && p.combine != CombineImages::Concat) {
    throw Error(field +
                ".combine: masked images are attended one by one; combine must be "
                "concat");
  }
  if (p.block_scales && p.preset != LayerPreset::None) {
    throw Error(field + ": give a per-block scale dictionary or a preset, not both");
  }
  const bool masked = !p.masks.empty();
  const float w = masked ? 1.f : p.scale;
  AdapterPlan plan;
  if (p.block_scales) {
    plan.layer_scales = resolve_block_scales(*p.block_scales, layers, field);
  } else {
    plan.layer_scales = preset_scales(p.preset, family, w, p.weight_composition, layers, field);
  }
  if (masked) {
    plan.group_scales = p.image_scales.empty() ? std::vector<float>(n, p.scale) : p.image_scales;
  } else {
    plan.group_scales = {1.f};
  }
  return plan;
}

}  // namespace

DiffusionPipeline::DiffusionPipeline(const EngineOptions& options) : options_(options) {
  device_ = parse_device(options.compute.device);
  if (device_.is_cpu()) ops::require_precision(options.compute.precision);
  base_ = open_base_model(options.base, options.base_config);
  base_.variant = options.variant;
  const Precision precision = options.compute.precision;
  say("base model: " + base_.dir + " (" + base_.pipeline_class + ", " + family_name(base_.family) +
      ")");
  if (!options.unet.empty()) use_unet_folder(base_, options.unet);
  if (!options.vae.empty()) use_vae(base_, options.vae, options.base_config);

  family_ = base_.family == ModelFamily::SDXL ? open_sdxl_stages(base_, precision, options_.log)
                                              : open_sd15_stages(base_, precision, options_.log);
  // The UNet and VAE files are opened now (a broken file is found before anything runs); their
  // weights are converted now, or in one-shot mode when their phase comes.
  unet_folder_ = open_base_unet(base_, layer_dtype(precision));
  vae_folder_ = open_base_vae(base_, layer_dtype(precision));
  // Every model's weights go to the device once, as they are converted (LoRAs merged first).
  unet_folder_.weights.set_device(device_);
  vae_folder_.weights.set_device(device_);
  for (WeightStore* s : family_->text_encoder_weights()) s->set_device(device_);
  vae_config_ = vae::VaeConfig::from_json(vae_folder_.config, vae_folder_.config_path);
  if (!options.loras.empty()) {
    // Checked now, merged as each model converts its weights.
    LoraTargets targets;
    targets.family = base_.family;
    targets.unet = &unet_folder_.weights;
    targets.unet_config = &base_.unet_config;
    targets.text_encoders = family_->text_encoder_weights();
    for (const MergedLora& m : merge_loras(options.loras, targets)) {
      say("lora: " + m.options.file + " (" + m.format + ", weight " +
          format_weight(m.options.weight) + "): " + std::to_string(m.unet_layers) + " UNet and " +
          std::to_string(m.text_encoder_layers) + " text-encoder layers");
      info_.loras.push_back(m.options);
    }
  }
  scheduler_config_ = base_.scheduler;
  sampling::make_scheduler("", scheduler_config_, base_.scheduler_config);  // refuse a bad one now

  if (!options.ip_adapters.empty()) {
    image_prompt_ = std::make_unique<ImagePromptStage>(
        options.ip_adapters, unet::cross_attention_layers(base_.unet_config), base_.family,
        precision, options.variant, options_.log, device_);
  }

  if (!options.controlnets.empty()) {
    control_ = std::make_unique<ControlStage>(options.controlnets, base_.unet_config, base_.family,
                                              precision, options.variant, options_.log, device_);
    for (size_t i = 0; i < control_->size(); ++i) info_.controlnets.push_back(control_->file(i));
  }

  info_.family = base_.family;
  info_.base = base_.dir;
  info_.pipeline_class = base_.pipeline_class;
  info_.scheduler_class = scheduler_config_.value("_class_name", std::string());
  info_.vae_scale_factor = static_cast<int>(vae_config_.downscale_factor());
  info_.latent_channels = vae_config_.latent_channels;
  info_.unet_in_channels = base_.unet_config.in_channels;
  if (base_.unet_config.out_channels != vae_config_.latent_channels) {
    throw Error("the UNet's out_channels (" + std::to_string(base_.unet_config.out_channels) +
                    ") differ from the VAE's latent_channels (" +
                    std::to_string(vae_config_.latent_channels) + ")",
                base_.unet_dir);
  }
  const int64_t sample_size = base_.unet_config.sample_size > 0
                                  ? base_.unet_config.sample_size
                                  : (base_.family == ModelFamily::SDXL ? 128 : 64);
  info_.default_width = info_.default_height =
      static_cast<int>(sample_size * info_.vae_scale_factor);
  info_.default_cfg = family_->default_cfg();
  if (image_prompt_) {
    for (size_t i = 0; i < image_prompt_->size(); ++i) {
      info_.adapters.push_back(image_prompt_->describe(i));
    }
  }
  info_.compute = options.compute;
  info_.compute.threads = ops::num_threads();

  if (!options.one_shot) {
    family_->load_text_encoders();
    if (image_prompt_) image_prompt_->load_encoders();
    // Kept models are planned now for the model's own size with guidance (one image), so a
    // first request of that shape runs at full speed from its first step; other shapes plan
    // themselves on first use (docs/performance.md, "Packing at load").
    const int64_t f = info_.vae_scale_factor;
    const int64_t h = info_.default_height / f, w = info_.default_width / f;
    unet().prepare({info_.default_cfg > 1.0f ? 2 : 1, info_.unet_in_channels, h, w});
    vae().prepare_decode({1, info_.latent_channels, h, w}, vae::TilingOptions{});
    if (control_) control_->load();
  }
}

DiffusionPipeline::~DiffusionPipeline() = default;

void DiffusionPipeline::say(const std::string& s) const {
  if (options_.log) options_.log(s);
}

const unet::UNet2DConditionModel& DiffusionPipeline::unet() {
  if (!unet_) {
    unet_ = std::make_unique<unet::UNet2DConditionModel>(
        unet::UNet2DConditionModel::load(base_.unet_config, unet_folder_.weights.scope("")));
    say("unet: " + base_.unet_dir);
  }
  return *unet_;
}

const vae::AutoencoderKL& DiffusionPipeline::vae() {
  if (!vae_) {
    vae_ = std::make_unique<vae::AutoencoderKL>(vae_config_, vae_folder_.weights.scope(""));
    say("vae: " + base_.vae_dir);
  }
  return *vae_;
}

DiffusionPipeline::Resolved DiffusionPipeline::resolve(const GenerateRequest& r) const {
  r.validate();
  Resolved x;
  x.task = !r.init_image ? Task::Txt2Img : r.mask ? Task::Inpaint : Task::Img2Img;
  const int f = info_.vae_scale_factor;
  // Without a size: the init image's, else the first control image's (both rounded down to the
  // VAE's factor, as diffusers' image processor does), else the model's.
  const image::Image* sized = r.init_image          ? &*r.init_image
                              : !r.controls.empty() ? &r.controls[0].image
                                                    : nullptr;
  const image::PixelSize from_image =
      sized ? image::rounded_down_size(*sized, f) : image::PixelSize{};
  if (sized && (r.width == 0 || r.height == 0) &&
      (from_image.width == 0 || from_image.height == 0)) {
    throw Error(std::string(r.init_image ? "init_image (--init-image)" : "controls[0].image") +
                " is smaller than the VAE's factor " + std::to_string(f) + " pixels");
  }
  x.width = r.width > 0 ? r.width : sized ? from_image.width : info_.default_width;
  x.height = r.height > 0 ? r.height : sized ? from_image.height : info_.default_height;
  // The UNet decides between inpainting with mask inputs and latent blending.
  const int64_t latent_c = info_.latent_channels;
  x.nine_channel = info_.unet_in_channels == 2 * latent_c + 1;
  if (x.nine_channel && x.task != Task::Inpaint) {
    throw Error("this UNet takes " + std::to_string(info_.unet_in_channels) +
                " input channels (an inpainting UNet: latents + mask + masked-image latents): "
                "give the image to repaint (--init-image) and the mask (--mask)");
  }
  if (!x.nine_channel && info_.unet_in_channels != latent_c) {
    throw Error("the UNet takes " + std::to_string(info_.unet_in_channels) +
                " input channels; expected " + std::to_string(latent_c) + " or " +
                std::to_string(2 * latent_c + 1) + " (inpainting)");
  }
  if (x.task != Task::Txt2Img) {
    x.strength = r.strength.value_or(default_strength(x.task, base_.family));
  }
  if (r.controls.size() != info_.controlnets.size()) {
    throw Error("controls: " + std::to_string(r.controls.size()) +
                " control images were given for " + std::to_string(info_.controlnets.size()) +
                " loaded ControlNets (--control-image: one per --controlnet, in order)");
  }
  x.cfg = r.cfg.value_or(info_.default_cfg);
  x.guidance = x.cfg > 1.0f;  // diffusers: do_classifier_free_guidance = guidance_scale > 1
  if (x.width % f != 0 || x.height % f != 0) {
    throw Error("width and height must be multiples of the VAE's scale factor " +
                std::to_string(f) + ", got " + std::to_string(x.width) + "x" +
                std::to_string(x.height));
  }
  const size_t adapters = image_prompt_ ? image_prompt_->size() : 0;
  if (adapters > 0 && r.image_prompts.empty()) {
    throw Error(
        "image_prompts: an IP-Adapter is loaded: give at least one reference image "
        "(--image)");
  }
  if (adapters == 0 && !r.image_prompts.empty()) {
    throw Error(
        "image_prompts: reference images were given but no IP-Adapter (--ip-adapter) is "
        "loaded");
  }
  if (r.image_prompts.size() != adapters) {
    throw Error("image_prompts: " + std::to_string(r.image_prompts.size()) +
                " image prompts were given for " + std::to_string(adapters) +
                " loaded IP-Adapters (one each, in load order)");
  }
  x.latent_shape = {r.num_images, info_.latent_channels, x.height / f, x.width / f};
  if (!r.init_latents.empty()) {
    const Shape given(r.init_latents.shape.begin(), r.init_latents.shape.end());
    if (given != x.latent_shape) {
      throw Error::shape_mismatch("init_latents", "latents", x.latent_shape, given);
    }
  }
  if (image_prompt_) {
    const auto layers = unet::cross_attention_layers(base_.unet_config);
    for (size_t i = 0; i < r.image_prompts.size(); ++i) {
      image_prompt_->check(i, r.image_prompts[i]);
      x.adapters.push_back(plan_adapter(i, r.image_prompts[i], base_.family, layers));
    }
  }
  const std::string spacing = r.timestep_spacing == TimestepSpacing::Default
                                  ? ""
                                  : timestep_spacing_name(r.timestep_spacing);
  x.scheduler = sampling::make_scheduler(sampler_name(r.sampler), scheduler_config_,
                                         base_.scheduler_config, spacing);
  if (r.eta) x.scheduler->set_eta(*r.eta);
  x.scheduler->set_timesteps(r.steps);
  if (x.task != Task::Txt2Img &&
      x.scheduler->first_step_for_strength(x.strength) >= x.scheduler->timesteps().size()) {
    throw Error("strength (--strength) " + std::to_string(x.strength) + " with " +
                std::to_string(r.steps) +
                " steps leaves no step to run (int(steps × strength) must be at least 1)");
  }
  return x;
}

void DiffusionPipeline::check(const GenerateRequest& r) const {
  resolve(r);
}

GenerateResult DiffusionPipeline::generate(const GenerateRequest& r, const Callbacks& cb) {
  if (options_.one_shot && generated_) {
    throw Error("this engine was loaded for one generation (one_shot) and has made it");
  }
  // Everything that can be refused is refused before any model runs.
  Resolved x = resolve(r);
  const int n = r.num_images;
  const LogFn warn = cb.on_log ? cb.on_log : options_.log;
  const InitImages init_images = prepare_init_images(r, x.task, x.width, x.height, warn);
  GenerateResult out;
  out.width = x.width;
  out.height = x.height;
  out.cfg = x.cfg;
  if (x.task != Task::Txt2Img) out.strength = x.strength;
  out.sampler_class = x.scheduler->class_name();

  // ---- text ----
  auto t0 = clock::now();
  const TextConditioning text = family_->encode_text(r, x.guidance, warn);
  out.timings.text_encode_s = seconds_since(t0);
  if (options_.one_shot) {
    // Each phase's models go before the next phase loads its own.
    generated_ = true;
    family_->release_text_encoders();
    pool_trim();
  }

  // ---- image prompt ----
  std::vector<AdapterTokens> tokens;
  if (image_prompt_) {
    t0 = clock::now();
    tokens = image_prompt_->encode(r.image_prompts, r.image_prep);
    out.timings.image_encode_s = seconds_since(t0);
  }
  // ---- conditioning, batched for guidance ----
  DenoiseConditioning c;
  c.text = guidance_batch(text.cond, text.uncond, n, x.guidance);
  c.added = family_->added_conditioning(r, text, x.width, x.height, n, x.guidance);
  IpAttention ip;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const ImagePrompt& p = r.image_prompts[i];
    IpAttentionInput in;
    in.weights = &image_prompt_->adapter(i).attention();
    in.tokens = guidance_batch(tokens[i].cond, tokens[i].uncond, n, x.guidance);
    in.tokens_per_image = tokens[i].tokens_per_image;
    in.layer_scales = x.adapters[i].layer_scales;
    in.group_scales = x.adapters[i].group_scales;
    for (const auto& m : p.masks) {
      in.masks.push_back(image::binary_mask(m, x.width, x.height));
      if (image::mask_is_empty(in.masks.back())) {
        warn("warning: ip_adapters[" + std::to_string(i) + "].masks[" +
             std::to_string(in.masks.size() - 1) + "] is all black: its image has no effect");
      }
    }
    in.scaling = p.embeds_scaling;
    in.start = p.start;
    in.end = p.end;
    ip.add(std::move(in));
  }
  if (!ip.empty()) c.cross_attention = &ip;

  if (options_.one_shot) {
    // Everything before the UNet is done: its models go before the UNet takes its memory (the
    // image tokens' keys and values are projected first, so the adapters' attention weights
    // go too).
    if (image_prompt_) {
      ip.precompute();
      image_prompt_->release_encoders();
      image_prompt_->release_attention_weights();
    }
    pool_trim();
  }
  // ---- initial latents (img2img / inpainting encode with the VAE first) ----
  vae::TilingOptions tiling;
  tiling.mode = to_vae_tiling(r.vae_tiling);
  sampling::TorchGenerator generator(r.seed);
  StartSettings start_settings;
  start_settings.task = x.task;
  start_settings.latent_shape = x.latent_shape;
  start_settings.strength = x.strength;
  start_settings.nine_channel = x.nine_channel;
  const Tensor given = r.init_latents.empty() ? Tensor() : to_tensor(r.init_latents);
  if (given.defined()) start_settings.given_latents = &given;
  t0 = clock::now();
  const StartLatents start =
      start_latents(start_settings, init_images, x.task == Task::Txt2Img ? nullptr : &vae(), tiling,
                    *x.scheduler, generator);
  if (x.task != Task::Txt2Img) {
    out.timings.vae_encode_s = seconds_since(t0);
    if (options_.one_shot) {
      vae_.reset();  // converted again for the decode: the UNet phase is the peak
      pool_trim();
    }
  }
  Tensor latents = start.latents;

  t0 = clock::now();
  const unet::UNet2DConditionModel& model = unet();
  if (options_.one_shot) {
    // Planned for this request's shape as part of the load (primitives built, conv weights
    // packed), so the first step runs at the steady speed.
    Shape sample = x.latent_shape;
    sample[0] *= x.guidance ? 2 : 1;
    sample[1] = info_.unet_in_channels;
    model.prepare(sample);
    out.timings.unet_load_s = seconds_since(t0);
  }

  // ---- denoising ----
  DenoiseSettings settings;
  settings.cfg = x.cfg;
  settings.guidance = x.guidance;
  settings.first_step = start.first_step;
  DenoiseHooks hooks;
  if (!ip.empty()) {
    // The adapters' step windows: step i of the N steps that run.
    const size_t first = start.first_step, runs = x.scheduler->timesteps().size() - first;
    hooks.before_unet.push_back(
        [&ip, first, runs](size_t step, unet::UNetInputs&) { ip.begin_step(step - first, runs); });
  }
  if (control_) {
    // Loaded with the UNet (one-shot: released with it). The ControlNets read the 4-channel
    // input, so their hook runs before an inpainting UNet's channels are added.
    control_->add_hook(r.controls, x.width, x.height, n, x.guidance, r.guess_mode, start.first_step,
                       x.scheduler->timesteps().size(), &hooks);
  }
  if (x.task == Task::Inpaint) {
    add_inpaint_hooks(start, x.nine_channel, x.guidance, *x.scheduler, &hooks);
  }
  t0 = clock::now();
  if (cb.on_step) {
    hooks.on_step = [&](int done, int total) {
      return cb.on_step(StepProgress{done, total, seconds_since(t0)});
    };
  }
  std::vector<Tensor> steps;
  latents = denoise(model, *x.scheduler, latents, c, settings, &generator, hooks,
                    r.keep_step_latents ? &steps : nullptr);
  out.timings.denoise_s = seconds_since(t0);
  out.final_latents = to_float_array(latents);
  for (const Tensor& s : steps) out.step_latents.push_back(to_float_array(s));

  // ---- decode ----
  // One-shot: the UNet (and its cached activation blocks, which do not fit the VAE's sizes)
  // go before the decoder allocates its own.
  if (options_.one_shot) {
    unet_.reset();
    if (control_) control_->release();
    pool_trim();
  }
  t0 = clock::now();
  const vae::AutoencoderKL& decoder = vae();
  decoder.prepare_decode(latents.shape(), tiling);  // weights packed for this size: not decode
  out.timings.vae_load_s = seconds_since(t0);
  t0 = clock::now();
  // The latents live on the host between steps (the scheduler's step runs there).
  out.images = to_images(decode_latents(decoder, latents.to(device_), tiling));
  for (auto& img : out.images) img = finish_image(init_images, img);
  out.timings.vae_decode_s = seconds_since(t0);
  return out;
}

}  // namespace ipa
