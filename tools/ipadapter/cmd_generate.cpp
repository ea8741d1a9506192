// `ipadapter generate`: text + image prompt → PNG(s), SD1.5 and SDXL families. A client of
// the public API: it reads the files (or a JSON request, --request), fills a GenerateRequest,
// writes the PNGs. Options given next to --request override the request's fields.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/process_memory.h"
#include "commands.h"
#include "compute_options.h"
#include "ipadapter/ipadapter.hpp"
#include "ipadapter/request_json.h"
#include "progress.h"

namespace ipa::cli {
namespace {

struct GenerateFlags {
  std::string request_file;
  std::string base, base_config, vae, ip_adapter, image_encoder;
  std::vector<std::string> images;
  std::string image_prep = "crop", sampler = "default", vae_tiling = "auto";
  std::string timestep_spacing = "default";
  std::string prompt, negative_prompt, prompt_2, negative_prompt_2;
  float scale = 0.6f, cfg = 0.f, eta = 0.f;
  int steps = 30, width = 0, height = 0, num_images = 1, clip_skip = 0;
  uint64_t seed = 0;
  std::string original_size, target_size, crop_top_left;
  std::string out = "out.png";
  std::string init_latents, dump_latents;
  // img2img / inpainting
  std::string init_image, mask, unet, revision, variant;
  double strength = 0;
  float mask_blur = 0;
  int padding_mask_crop = 0;
  bool keep_unmasked = false;
  // ControlNet (repeatable; scale/start/end: one for all or one per ControlNet)
  std::vector<std::string> controlnets, controlnet_configs, control_images;
  std::vector<float> control_scales, control_starts, control_ends;
  bool guess_mode = false;
  std::vector<std::string> loras;  // FILE[:weight]
  ComputeFlags compute;
  // Every option, to know which were given (they override a --request file's fields).
  std::map<std::string, CLI::Option*> options;
  bool given(const std::string& name) const {
    const auto it = options.find(name);
    return it != options.end() && it->second->count() > 0;
  }
};

std::string output_name(const std::string& out, int index) {
  if (index == 0) return out;
  const std::filesystem::path p(out);
  return (p.parent_path() /
          (p.stem().string() + "_" + std::to_string(index) + p.extension().string()))
      .string();
}

// "WIDTHxHEIGHT"
ImageSize parse_size(const std::string& flag, const std::string& text) {
  int w = 0, h = 0;
  char x = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%d%c%d%c", &w, &x, &h, &extra) != 3 || (x != 'x' && x != 'X') ||
      w < 1 || h < 1) {
    throw Error(flag + " must be WIDTHxHEIGHT, e.g. 1024x1024, got '" + text + "'");
  }
  return {w, h};
}

ParsedRequest read_request_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read the request file", path);
  std::ostringstream s;
  s << in.rdbuf();
  const std::string folder = std::filesystem::path(path).parent_path().string();
  return parse_request_json(s.str(), file_request_sources(folder), path);
}

// --controlnet / --control-image pairs (given together they replace the request's list);
// --control-scale, --control-start, --control-end: one value for every ControlNet or one each.
void apply_control_flags(const GenerateFlags& f, ParsedRequest* pr) {
  std::vector<ControlImage>& controls = pr->request.controls;
  if (f.given("--controlnet") != f.given("--control-image")) {
    throw Error(f.given("--controlnet")
                    ? "--controlnet needs its control image (--control-image, one per --controlnet)"
                    : "--control-image needs a ControlNet (--controlnet)");
  }
  if (f.given("--controlnet")) {
    if (f.controlnets.size() != f.control_images.size()) {
      throw Error("--control-image: " + std::to_string(f.control_images.size()) + " given for " +
                  std::to_string(f.controlnets.size()) + " --controlnet (one each, in order)");
    }
    if (f.controlnet_configs.size() > f.controlnets.size()) {
      throw Error("--controlnet-config: more given than --controlnet");
    }
    pr->controlnets.clear();
    controls.clear();
    for (size_t i = 0; i < f.controlnets.size(); ++i) {
      pr->controlnets.push_back(
          {f.controlnets[i], i < f.controlnet_configs.size() ? f.controlnet_configs[i] : ""});
      ControlImage c;
      c.image = read_image(f.control_images[i]);
      controls.push_back(std::move(c));
    }
  } else if (f.given("--controlnet-config")) {
    throw Error("--controlnet-config needs --controlnet");
  }
  auto per_control = [&](const char* flag, const std::vector<float>& values, auto set) {
    if (!f.given(flag)) return;
    if (values.size() != 1 && values.size() != controls.size()) {
      throw Error(std::string(flag) + ": " + std::to_string(values.size()) + " values for " +
                  std::to_string(controls.size()) +
                  " ControlNets (one for all, or one per --controlnet)");
    }
    for (size_t i = 0; i < controls.size(); ++i) {
      set(controls[i], values.size() == 1 ? values[0] : values[i]);
    }
  };
  per_control("--control-scale", f.control_scales, [](ControlImage& c, float v) { c.scale = v; });
  per_control("--control-start", f.control_starts, [](ControlImage& c, float v) { c.start = v; });
  per_control("--control-end", f.control_ends, [](ControlImage& c, float v) { c.end = v; });
}

// --lora FILE[:weight]: the weight is what follows the last ':' when it is a number (so a
// path with a ':' still works without a weight).
LoraOptions parse_lora_flag(const std::string& text) {
  LoraOptions l;
  l.file = text;
  const size_t colon = text.rfind(':');
  if (colon != std::string::npos && colon > 0) {
    const std::string number = text.substr(colon + 1);
    char* end = nullptr;
    const float w = std::strtof(number.c_str(), &end);
    if (!number.empty() && end == number.c_str() + number.size()) {
      if (!std::isfinite(w)) throw Error("--lora: the weight must be a finite number: " + text);
      l.file = text.substr(0, colon);
      l.weight = w;
    }
  }
  if (l.file.empty()) throw Error("--lora: no file in '" + text + "'");
  return l;
}

// The flags that were given, over the request (or over the defaults without one).
void apply_flags(const GenerateFlags& f, ParsedRequest* pr) {
  GenerateRequest& r = pr->request;
  if (f.given("--base")) pr->base = f.base;
  if (f.given("--prompt")) r.prompt = f.prompt;
  if (f.given("--negative-prompt")) r.negative_prompt = f.negative_prompt;
  if (f.given("--prompt-2")) r.prompt_2 = f.prompt_2;
  if (f.given("--negative-prompt-2")) r.negative_prompt_2 = f.negative_prompt_2;
  // The one-adapter flags act on the first adapter.
  const bool adapter_flags = f.given("--ip-adapter") || f.given("--image-encoder") ||
                             f.given("--image") || f.given("--scale");
  if (adapter_flags && pr->ip_adapters.empty()) {
    pr->ip_adapters.emplace_back();
    r.image_prompts.emplace_back();
  }
  if (f.given("--ip-adapter")) pr->ip_adapters[0].file = f.ip_adapter;
  if (f.given("--image-encoder")) pr->ip_adapters[0].image_encoder = f.image_encoder;
  if (f.given("--image")) {
    r.image_prompts[0].images.clear();
    for (const auto& path : f.images) r.image_prompts[0].images.push_back(read_image(path));
  }
  if (f.given("--scale")) r.image_prompts[0].scale = f.scale;
  if (f.given("--image-prep")) r.image_prep = *parse_image_prep(f.image_prep);
  if (f.given("--steps")) r.steps = f.steps;
  if (f.given("--cfg")) r.cfg = f.cfg;
  if (f.given("--sampler")) {
    const auto sampler = parse_sampler(f.sampler);
    if (!sampler) {
      std::string names;
      for (const auto& n : sampler_names()) names += (names.empty() ? "" : ", ") + n;
      throw Error("--sampler: unknown sampler '" + f.sampler + "' (one of: " + names + ")");
    }
    r.sampler = *sampler;
  }
  if (f.given("--timestep-spacing")) {
    r.timestep_spacing = *parse_timestep_spacing(f.timestep_spacing);
  }
  if (f.given("--eta")) r.eta = f.eta;
  if (f.given("--seed")) r.seed = f.seed;
  if (f.given("--width")) r.width = f.width;
  if (f.given("--height")) r.height = f.height;
  if (f.given("--num-images")) r.num_images = f.num_images;
  if (f.given("--clip-skip")) r.clip_skip = f.clip_skip;
  if (f.given("--vae-tiling")) r.vae_tiling = *parse_vae_tiling(f.vae_tiling);
  if (f.given("--original-size")) r.original_size = parse_size("--original-size", f.original_size);
  if (f.given("--target-size")) r.target_size = parse_size("--target-size", f.target_size);
  if (f.given("--crop-top-left")) {
    char extra = 0;
    if (std::sscanf(f.crop_top_left.c_str(), "%d,%d%c", &r.crop_top, &r.crop_left, &extra) != 2) {
      throw Error("--crop-top-left must be TOP,LEFT, e.g. 0,0, got '" + f.crop_top_left + "'");
    }
  }
  if (f.given("--init-latents")) {
    const auto arrays = read_float_arrays(f.init_latents);
    const auto it = arrays.find("latents");
    if (it == arrays.end()) throw Error("no tensor named 'latents'", f.init_latents, "latents");
    r.init_latents = it->second;
  }
  if (f.given("--init-image")) pr->request.init_image = read_image(f.init_image);
  if (f.given("--strength")) r.strength = f.strength;
  if (f.given("--mask")) r.mask = read_image(f.mask);
  if (f.given("--mask-blur")) r.mask_blur = f.mask_blur;
  if (f.given("--padding-mask-crop")) r.padding_mask_crop = f.padding_mask_crop;
  if (f.given("--keep-unmasked")) r.keep_unmasked = f.keep_unmasked;
  if (f.given("--unet")) pr->unet = f.unet;
  if (f.given("--config")) pr->base_config = f.base_config;
  if (f.given("--vae")) pr->vae = f.vae;
  if (f.given("--revision")) pr->revision = f.revision;
  if (f.given("--variant")) pr->variant = f.variant;
  if (f.given("--lora")) {
    pr->loras.clear();
    for (const auto& text : f.loras) pr->loras.push_back(parse_lora_flag(text));
  }
  apply_control_flags(f, pr);
  if (f.given("--guess-mode")) r.guess_mode = f.guess_mode;
  if (f.given("--dump-latents") || pr->dump_latents.empty()) {
    if (f.given("--dump-latents")) pr->dump_latents = f.dump_latents;
  }
  if (f.given("--out") || pr->out.empty()) pr->out = f.out;
  if (f.given("--threads") || f.given("--precision") || f.given("--device") || !pr->compute) {
    ComputeOptions c = pr->compute.value_or(f.compute.options());
    if (f.given("--threads")) c.threads = f.compute.threads;
    if (f.given("--precision")) c.precision = f.compute.options().precision;
    if (f.given("--device")) c.device = f.compute.device;
    pr->compute = c;
  }
  r.keep_step_latents = !pr->dump_latents.empty();
}

int run_generate(const GenerateFlags& f) {
  Stopwatch t;
  // The request is read and checked before the models load: a bad image or flag costs nothing.
  ParsedRequest pr = f.request_file.empty() ? ParsedRequest{} : read_request_file(f.request_file);
  apply_flags(f, &pr);
  if (pr.base.empty()) throw Error("--base is required (or \"base\" in the --request file)");
  for (size_t i = 0; i < pr.ip_adapters.size(); ++i) {
    if (pr.ip_adapters[i].file.empty()) {
      throw Error(i == 0 ? "--image-encoder / --image / --scale need --ip-adapter"
                         : "ip_adapters[" + std::to_string(i) + "]: no adapter file");
    }
  }
  const GenerateRequest& request = pr.request;
  request.validate();

  EngineOptions o = pr.engine_options();
  o.one_shot = true;  // one generation per process: hold each model only while needed
  o.log = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
  auto engine = Engine::load(o);
  engine->check(request);
  log_timing("load", t.seconds());

  Callbacks callbacks;
  callbacks.on_step = [](const StepProgress& p) {
    draw_progress(p.step, p.total, p.elapsed_s);
    return true;
  };
  const GenerateResult res = engine->generate(request, callbacks);
  log_timing("unet load", res.timings.unet_load_s);
  log_timing("text encoder", res.timings.text_encode_s);
  if (!request.image_prompts.empty()) log_timing("image prompt", res.timings.image_encode_s);
  if (request.init_image) log_timing("vae encode", res.timings.vae_encode_s);
  log_timing("denoising", res.timings.denoise_s);
  log_timing("vae load", res.timings.vae_load_s);
  log_timing("vae decode", res.timings.vae_decode_s);
  std::fprintf(stderr, "%-28s %8.0f MB\n", "peak memory (RSS)", bench::peak_rss_mb());
  const std::string parameters = generation_parameters(engine->info(), request, res);
  for (size_t i = 0; i < res.images.size(); ++i) {
    const std::string path = output_name(pr.out, static_cast<int>(i));
    write_png(path, res.images[i], {{"parameters", parameters}});
    std::fprintf(stderr, "wrote %s\n", path.c_str());
  }
  if (!pr.dump_latents.empty()) {
    std::vector<std::pair<std::string, FloatArray>> arrays = {{"final_latents", res.final_latents}};
    for (size_t i = 0; i < res.step_latents.size(); ++i) {
      arrays.emplace_back("step_" + std::to_string(i), res.step_latents[i]);
    }
    write_float_arrays(pr.dump_latents, arrays);
    std::fprintf(stderr, "wrote %s\n", pr.dump_latents.c_str());
  }
  return 0;
}

const bool registered = register_command(
    "generate", "Generate images from a text prompt and reference image(s)", [](CLI::App& sub) {
      auto f = std::make_shared<GenerateFlags>();
      auto opt = [&](CLI::Option* o) {
        f->options[o->get_name()] = o;
        return o;
      };
      opt(sub.add_option("--request", f->request_file,
                         "JSON request (docs/request.md): several adapters, masks, per-block "
                         "scales, presets, windows...; options given beside it override its "
                         "fields"));
      opt(sub.add_option("--base", f->base,
                         "Diffusers pipeline folder (SD1.5 family or SDXL), or a single-file "
                         "SD1.x / SDXL checkpoint (.safetensors, .ckpt); any model path may also "
                         "be a Hugging Face repo id found in the local cache "
                         "(runwayml/stable-diffusion-v1-5, "
                         "h94/IP-Adapter/models/ip-adapter_sd15.safetensors)"));
      opt(sub.add_option("--config", f->base_config,
                         "For a single-file --base: a diffusers pipeline folder whose configs "
                         "describe it (default: the family's standard full-size configs)"));
      opt(sub.add_option("--vae", f->vae,
                         "VAE to use instead of the base's: a diffusers VAE folder or one file "
                         "(diffusers or original names)"));
      opt(sub.add_option("--revision", f->revision,
                         "Revision of models given by repo id: branch, tag or commit hash "
                         "(default: main)"));
      opt(sub.add_option("--variant", f->variant,
                         "Weights variant to prefer in model folders, e.g. fp16 "
                         "(model.fp16.safetensors); default: the full-precision files"));
      opt(sub.add_option("--ip-adapter", f->ip_adapter, "IP-Adapter .bin or .safetensors"));
      opt(sub.add_option("--image-encoder", f->image_encoder,
                         "CLIP vision encoder folder (default: beside the adapter, h94 layout)"));
      opt(sub.add_option("--image", f->images, "Reference image; repeat to concatenate several"));
      opt(sub.add_option("--image-prep", f->image_prep, "crop (CLIPImageProcessor) or squash")
              ->capture_default_str()
              ->check(CLI::IsMember({"crop", "squash"})));
      opt(sub.add_option("--prompt", f->prompt, "Text prompt"));
      opt(sub.add_option("--negative-prompt", f->negative_prompt,
                         "Negative prompt (default: none — the empty prompt, or zero embeddings "
                         "where the model asks for them, as diffusers)"));
      opt(sub.add_option("--prompt-2", f->prompt_2,
                         "SDXL: prompt for the second text encoder (default: --prompt)"));
      opt(sub.add_option("--negative-prompt-2", f->negative_prompt_2,
                         "SDXL: negative prompt for the second text encoder (default: "
                         "--negative-prompt)"));
      opt(sub.add_option("--scale", f->scale, "IP-Adapter scale (0 = text only, 1 = image only)")
              ->capture_default_str());
      opt(sub.add_option("--steps", f->steps, "Sampling steps")
              ->capture_default_str()
              ->check(CLI::Range(1, 1000)));
      opt(sub.add_option("--cfg", f->cfg,
                         "Classifier-free guidance scale (default: 7.5 for SD1.5, 5 for SDXL)"));
      opt(sub.add_option("--sampler", f->sampler,
                         "default (the base model's scheduler), ddim, pndm, euler, euler_karras, "
                         "euler_a, dpmpp_2m, dpmpp_2m_karras, dpmpp_2m_sde, dpmpp_2m_sde_karras, "
                         "lms, lms_karras, lcm, tcd")
              ->capture_default_str());
      opt(sub.add_option("--timestep-spacing", f->timestep_spacing,
                         "default (the base model's scheduler config), leading, trailing, "
                         "linspace; sgm_uniform = trailing (SDXL-Lightning, Hyper-SD)")
              ->capture_default_str()
              ->check(CLI::IsMember(timestep_spacing_names())));
      opt(sub.add_option("--eta", f->eta, "DDIM eta / TCD gamma (default: 0 / 0.3)"));
      opt(sub.add_option("--seed", f->seed, "Seed (PyTorch CPU generator compatible)")
              ->capture_default_str());
      opt(sub.add_option("--width", f->width,
                         "Width in pixels, a multiple of 8 (default: the model's, 512 for SD1.5, "
                         "1024 for SDXL)"));
      opt(sub.add_option("--height", f->height,
                         "Height in pixels, a multiple of 8 (default: the model's)"));
      opt(sub.add_option("--num-images", f->num_images, "Images to generate")
              ->capture_default_str());
      opt(sub.add_option("--vae-tiling", f->vae_tiling,
                         "Decode in overlapping tiles (diffusers' enable_tiling): auto (large "
                         "images only), on, off")
              ->capture_default_str()
              ->check(CLI::IsMember({"auto", "on", "off"})));
      opt(sub.add_option("--clip-skip", f->clip_skip, "Skip the last N text-encoder layers")
              ->capture_default_str());
      opt(sub.add_option("--original-size", f->original_size,
                         "SDXL size conditioning: WIDTHxHEIGHT of the 'original' image (default: "
                         "the output size)"));
      opt(sub.add_option("--target-size", f->target_size,
                         "SDXL size conditioning: WIDTHxHEIGHT (default: the output size)"));
      opt(sub.add_option("--crop-top-left", f->crop_top_left,
                         "SDXL crop conditioning: TOP,LEFT (default: 0,0)"));
      opt(sub.add_option("--init-latents", f->init_latents,
                         "safetensors with tensor 'latents' [N,C,H/8,W/8] (diffusers' latents=)"));
      opt(sub.add_option("--dump-latents", f->dump_latents,
                         "write final_latents and step_<i> (after step i) to this safetensors "
                         "file"));
      opt(sub.add_option("--init-image", f->init_image,
                         "img2img: start from this image (inpainting with --mask); the output "
                         "takes its size unless --width/--height are given"));
      opt(sub.add_option("--strength", f->strength,
                         "img2img/inpainting: the fraction of the steps that run, in (0, 1] "
                         "(default as diffusers: img2img 0.8 SD1.5 / 0.3 SDXL, inpainting 1.0 / "
                         "0.9999)"));
      opt(sub.add_option("--mask", f->mask,
                         "Inpainting mask: white = repaint (binarised at 0.5, as diffusers)"));
      opt(sub.add_option("--mask-blur", f->mask_blur,
                         "Inpainting: blur the mask first (PIL GaussianBlur radius)"));
      opt(sub.add_option("--padding-mask-crop", f->padding_mask_crop,
                         "Inpainting: work on the mask's region grown by N pixels at the output "
                         "size, then paste it back (diffusers' padding_mask_crop)"));
      opt(sub.add_flag("--keep-unmasked", f->keep_unmasked,
                       "Inpainting: paste the original back where the mask is black"));
      opt(sub.add_option("--unet", f->unet,
                         "UNet folder to use instead of the base's (e.g. a 9-channel inpainting "
                         "UNet)"));
      opt(sub.add_option("--controlnet", f->controlnets,
                         "ControlNet folder or file (repeat for several, each with its "
                         "--control-image)"));
      opt(sub.add_option("--controlnet-config", f->controlnet_configs,
                         "Folder with the config.json of a single-file ControlNet (default: the "
                         "family's standard one)"));
      opt(sub.add_option("--control-image", f->control_images,
                         "Control image (edges, depth, pose...), one per --controlnet"));
      opt(sub.add_option("--control-scale", f->control_scales,
                         "ControlNet conditioning scale (default 1.0; one for all or one each)"));
      opt(sub.add_option("--control-start", f->control_starts,
                         "ControlNet active from this fraction of the steps (default 0)"));
      opt(sub.add_option("--control-end", f->control_ends,
                         "ControlNet active until this fraction of the steps (default 1)"));
      opt(sub.add_option("--lora", f->loras,
                         "LoRA file (kohya/A1111 or diffusers/PEFT) merged into the UNet and "
                         "text encoders, FILE[:weight] (default weight 1); repeat to sum several"));
      opt(sub.add_flag("--guess-mode", f->guess_mode,
                       "ControlNet guess mode (diffusers): only the conditional batch half"));
      add_compute_options(sub, f->compute);
      f->options["--threads"] = sub.get_option("--threads");
      f->options["--precision"] = sub.get_option("--precision");
      f->options["--device"] = sub.get_option("--device");
      opt(sub.add_option("--out", f->out, "Output PNG (more images: NAME_1.png, ...)")
              ->capture_default_str());
      return [f] { return run_generate(*f); };
    });

}  // namespace
}  // namespace ipa::cli
