// `ipadapter generate`: text + image prompt → PNG(s), SD1.5 family.
#include <cstdio>
#include <filesystem>

#include "bench/process_memory.h"
#include "commands.h"
#include "compute_options.h"
#include "formats/safetensors.h"
#include "image/encode_png.h"
#include "ops/ops.h"
#include "pipeline/pipeline.h"
#include "progress.h"

namespace ipa::cli {
namespace {

struct GenerateOptions {
  PipelineOptions pipeline;
  GenerateRequest request;
  std::string out = "out.png";
  std::string init_latents, dump_latents;
  ComputeOptions compute;
};

std::string output_name(const std::string& out, int index) {
  if (index == 0) return out;
  const std::filesystem::path p(out);
  return (p.parent_path() /
          (p.stem().string() + "_" + std::to_string(index) + p.extension().string()))
      .string();
}

int run_generate(GenerateOptions& o) {
  apply_compute_options(o.compute);
  Stopwatch t;
  o.pipeline.one_shot = true;  // one generation per process: hold each model only while needed
  auto pipeline = Pipeline::load(
      o.pipeline, [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); });
  log_timing("load", t.seconds());
  if (!o.init_latents.empty()) {
    const TensorFile f = load_tensor_file(o.init_latents);
    const Tensor* l = f.find("latents");
    if (!l) throw Error("no tensor named 'latents'", o.init_latents, "latents");
    o.request.init_latents = l->to(DType::F32);
  }
  o.request.keep_step_latents = !o.dump_latents.empty();
  const GenerateResult res = pipeline->generate(o.request, draw_progress);
  log_timing("unet load", res.unet_load_s);
  log_timing("text encoder", res.text_encode_s);
  if (!o.request.images.empty()) log_timing("image prompt", res.image_encode_s);
  log_timing("denoising", res.denoise_s);
  log_timing("vae decode", res.vae_decode_s);
  std::fprintf(stderr, "%-28s %8.0f MB\n", "peak memory (RSS)", bench::peak_rss_mb());
  for (size_t i = 0; i < res.images.size(); ++i) {
    const std::string path = output_name(o.out, static_cast<int>(i));
    image::write_png(path, res.images[i], {{"parameters", res.parameters}});
    std::fprintf(stderr, "wrote %s\n", path.c_str());
  }
  if (!o.dump_latents.empty()) {
    std::vector<NamedTensor> tensors = {{"final_latents", res.final_latents}};
    for (size_t i = 0; i < res.step_latents.size(); ++i) {
      tensors.push_back({"step_" + std::to_string(i), res.step_latents[i]});
    }
    write_safetensors(o.dump_latents, tensors);
    std::fprintf(stderr, "wrote %s\n", o.dump_latents.c_str());
  }
  return 0;
}

const bool registered = register_command(
    "generate", "Generate images from a text prompt and reference image(s)", [](CLI::App& sub) {
      auto o = std::make_shared<GenerateOptions>();
      GenerateRequest& r = o->request;
      sub.add_option("--base", o->pipeline.base, "Diffusers SD1.5 pipeline folder")->required();
      sub.add_option("--ip-adapter", o->pipeline.ip_adapter, "IP-Adapter .bin or .safetensors");
      sub.add_option("--image-encoder", o->pipeline.image_encoder,
                     "CLIP vision encoder folder (default: beside the adapter, h94 layout)");
      sub.add_option("--image", r.images, "Reference image; repeat to concatenate several");
      sub.add_option("--image-prep", r.image_prep, "crop (CLIPImageProcessor) or squash")
          ->capture_default_str();
      sub.add_option("--prompt", r.prompt, "Text prompt")->required();
      sub.add_option("--negative-prompt", r.negative_prompt, "Negative prompt");
      sub.add_option("--scale", r.ip_scale, "IP-Adapter scale (0 = text only, 1 = image only)")
          ->capture_default_str();
      sub.add_option("--steps", r.steps, "Sampling steps")
          ->capture_default_str()
          ->check(CLI::Range(1, 1000));
      sub.add_option("--cfg", r.cfg, "Classifier-free guidance scale")->capture_default_str();
      sub.add_option("--sampler", r.sampler,
                     "ddim, pndm, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lms, ... (default: "
                     "the base model's scheduler)");
      sub.add_option("--eta", r.eta, "DDIM eta")->capture_default_str();
      sub.add_option("--seed", r.seed, "Seed (PyTorch CPU generator compatible)")
          ->capture_default_str();
      sub.add_option("--width", r.width, "Width in pixels (multiple of 8)")->capture_default_str();
      sub.add_option("--height", r.height, "Height in pixels (multiple of 8)")
          ->capture_default_str();
      sub.add_option("--num-images", r.num_images, "Images to generate")->capture_default_str();
      sub.add_option("--vae-tiling", r.vae_tiling,
                     "Decode in overlapping tiles (diffusers' enable_tiling): auto (images of "
                     "1024x1024 pixels or more that exceed the VAE's tile), on, off")
          ->capture_default_str()
          ->check(CLI::IsMember({"auto", "on", "off"}));
      sub.add_option("--clip-skip", r.clip_skip, "Skip the last N text-encoder layers")
          ->capture_default_str();
      sub.add_option("--init-latents", o->init_latents,
                     "safetensors with tensor 'latents' [N,4,H/8,W/8] (diffusers' latents=)");
      sub.add_option("--dump-latents", o->dump_latents,
                     "write final_latents and step_<i> (after step i) to this safetensors file");
      add_compute_options(sub, o->compute);
      sub.add_option("--out", o->out, "Output PNG (more images: NAME_1.png, ...)")
          ->capture_default_str();
      return [o] { return run_generate(*o); };
    });

}  // namespace
}  // namespace ipa::cli
