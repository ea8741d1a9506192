// `ipadapter embed`: reference images → image tokens (cond + uncond) in a safetensors file.
#include <cstdio>

#include "commands.h"
#include "compute_options.h"
#include "ipadapter/ipadapter.hpp"
#include "progress.h"

namespace ipa::cli {
namespace {

struct EmbedFlags {
  std::string image_encoder, ip_adapter, out, image_prep = "crop", revision, variant;
  std::vector<std::string> images;
  bool save_clip = false;
  ComputeFlags compute;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int run_embed(const EmbedFlags& f) {
  const auto prep = parse_image_prep(f.image_prep);
  if (!prep) throw Error("--image-prep must be 'crop' or 'squash', got '" + f.image_prep + "'");
  std::vector<image::Image> images;
  for (const auto& path : f.images) images.push_back(read_image(path));
  Stopwatch total;
  Stopwatch t;
  EmbedderOptions o;
  o.ip_adapter = f.ip_adapter;
  o.image_encoder = f.image_encoder;
  o.revision = f.revision;
  o.variant = f.variant;
  o.compute = f.compute.options();
  o.log = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
  const auto embedder = ImageEmbedder::load(o);
  log_timing("load", t.seconds());

  t = Stopwatch();
  const ImagePromptEmbeddings e = embedder->embed(images, *prep);
  log_timing("encode " + std::to_string(images.size()) + " image(s)", t.seconds());

  std::vector<std::pair<std::string, FloatArray>> out = {{"image_prompt_embeds", e.cond},
                                                         {"uncond_image_prompt_embeds", e.uncond}};
  if (f.save_clip) {
    out.emplace_back("clip_feature", e.clip_feature);
    out.emplace_back("uncond_clip_feature", e.uncond_clip_feature);
  }
  const AdapterDescription& a = embedder->adapter();
  // What made the file: `generate` reads clip_feature back as image_embeds and refuses a width
  // that does not fit its adapter.
  const int64_t width = e.clip_feature.shape.empty() ? 0 : e.clip_feature.shape.back();
  write_float_arrays(
      f.out, out,
      {{"ip_adapter", a.file},
       {"image_encoder", a.image_encoder},
       {"variant", a.variant},
       {"image_prep", f.image_prep},
       {"clip_feature", e.clip_feature.shape.size() == 2 ? "image_embeds" : "hidden_states[-2]"},
       {"clip_feature_width", std::to_string(width)}});
  std::fprintf(stderr, "wrote %s: image_prompt_embeds %s\n", f.out.c_str(),
               shape_text(e.cond.shape).c_str());
  log_timing("total", total.seconds());
  return 0;
}

const bool registered = register_command(
    "embed", "Encode reference images into IP-Adapter image tokens", [](CLI::App& sub) {
      auto f = std::make_shared<EmbedFlags>();
      sub.add_option("--image-encoder", f->image_encoder,
                     "CLIP vision encoder folder (default: found beside the adapter in the "
                     "h94/IP-Adapter layout)");
      sub.add_option("--ip-adapter", f->ip_adapter,
                     "IP-Adapter .bin or .safetensors (or a Hugging Face repo id + path, found in "
                     "the local cache)")
          ->required();
      sub.add_option("--revision", f->revision,
                     "Revision of models given by repo id: branch, tag or commit hash (default: "
                     "main)");
      sub.add_option("--variant", f->variant,
                     "Weights variant to prefer in the encoder folder, e.g. fp16 (default: full "
                     "precision)");
      sub.add_option("--image", f->images, "Reference image (PNG/JPEG/WebP); repeat for several")
          ->required();
      sub.add_option("--out", f->out, "Output .safetensors")->required();
      sub.add_option("--image-prep", f->image_prep,
                     "crop (CLIPImageProcessor: shortest edge + centre crop) or squash (resize "
                     "to a square first; recommended for non-square references)");
      sub.add_flag("--save-clip", f->save_clip,
                   "Also store the encoder feature as clip_feature / uncond_clip_feature");
      add_compute_options(sub, f->compute);
      return [f] { return run_embed(*f); };
    });

}  // namespace
}  // namespace ipa::cli
