// `ipadapter embed`: reference images → image tokens (cond + uncond) in a safetensors file.
#include <cstdio>

#include "adapter/image_prompt.h"
#include "commands.h"
#include "compute_options.h"
#include "formats/safetensors.h"
#include "image/decode.h"
#include "ops/ops.h"
#include "progress.h"

namespace ipa::cli {
namespace {

struct EmbedOptions {
  std::string image_encoder, ip_adapter, out, image_prep = "crop";
  std::vector<std::string> images;
  bool save_clip = false;
  ComputeOptions compute;
};

image::ClipResizeMode parse_prep(const std::string& s) {
  if (s == "crop") return image::ClipResizeMode::kCenterCrop;
  if (s == "squash") return image::ClipResizeMode::kSquash;
  throw Error("--image-prep must be 'crop' or 'squash', got '" + s + "'");
}

int run_embed(const EmbedOptions& o) {
  apply_compute_options(o.compute);
  const image::ClipResizeMode mode = parse_prep(o.image_prep);
  Stopwatch total;
  Stopwatch t;
  auto adapter = IpAdapter::load(o.ip_adapter);
  const AdapterInfo& info = adapter->info();
  std::fprintf(stderr, "adapter: %s (%s, %s tokens, width %lld)\n", o.ip_adapter.c_str(),
               variant_name(info.variant),
               info.num_tokens ? std::to_string(*info.num_tokens).c_str() : "encoder",
               static_cast<long long>(info.cross_attention_dim));
  std::string encoder_dir = o.image_encoder;
  if (encoder_dir.empty()) {
    encoder_dir = find_image_encoder_for(*adapter);
    std::fprintf(stderr, "image encoder: %s (found beside the adapter)\n", encoder_dir.c_str());
  }
  auto encoder = std::make_shared<const ClipVisionModel>(ClipVisionModel::load(encoder_dir));
  ImagePromptEncoder prompt_encoder(encoder, adapter, encoder_dir);
  log_timing("load", t.seconds());

  t = Stopwatch();
  std::vector<image::Image> images;
  for (const auto& path : o.images) images.push_back(image::read_image(path));
  const ImagePromptEmbeds e = prompt_encoder.encode(images, mode);
  log_timing("encode " + std::to_string(images.size()) + " image(s)", t.seconds());

  std::vector<NamedTensor> out = {{"image_prompt_embeds", e.cond},
                                  {"uncond_image_prompt_embeds", e.uncond}};
  if (o.save_clip) {
    out.push_back({"clip_feature", e.clip_feature});
    out.push_back({"uncond_clip_feature", e.uncond_clip_feature});
  }
  write_safetensors(o.out, out,
                    {{"ip_adapter", o.ip_adapter},
                     {"image_encoder", encoder_dir},
                     {"variant", variant_name(info.variant)},
                     {"image_prep", o.image_prep}});
  std::fprintf(stderr, "wrote %s: image_prompt_embeds %s\n", o.out.c_str(),
               shape_str(e.cond.shape()).c_str());
  log_timing("total", total.seconds());
  return 0;
}

const bool registered = register_command(
    "embed", "Encode reference images into IP-Adapter image tokens", [](CLI::App& sub) {
      auto o = std::make_shared<EmbedOptions>();
      sub.add_option("--image-encoder", o->image_encoder,
                     "CLIP vision encoder folder (default: found beside the adapter in the "
                     "h94/IP-Adapter layout)");
      sub.add_option("--ip-adapter", o->ip_adapter, "IP-Adapter .bin or .safetensors")->required();
      sub.add_option("--image", o->images, "Reference image (PNG/JPEG/WebP); repeat for several")
          ->required();
      sub.add_option("--out", o->out, "Output .safetensors")->required();
      sub.add_option("--image-prep", o->image_prep,
                     "crop (CLIPImageProcessor: shortest edge + centre crop) or squash (resize "
                     "to a square first; recommended for non-square references)");
      sub.add_flag("--save-clip", o->save_clip,
                   "Also store the encoder feature as clip_feature / uncond_clip_feature");
      add_compute_options(sub, o->compute);
      return [o] { return run_embed(*o); };
    });

}  // namespace
}  // namespace ipa::cli
