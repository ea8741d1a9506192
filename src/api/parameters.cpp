// The A1111-style `parameters` text of a generation.
#include <filesystem>
#include <sstream>

#include "ipadapter/engine.h"

namespace ipa {

namespace {
std::string format_float(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}
}  // namespace

std::string generation_parameters(const EngineInfo& info, const GenerateRequest& r,
                                  const GenerateResult& result) {
  std::ostringstream p;
  p << r.prompt << "\n";
  if (r.negative_prompt && !r.negative_prompt->empty()) {
    p << "Negative prompt: " << *r.negative_prompt << "\n";
  }
  p << "Steps: " << r.steps << ", Sampler: " << result.sampler_class
    << ", CFG scale: " << format_float(result.cfg) << ", Seed: " << r.seed
    << ", Size: " << result.width << "x" << result.height
    << ", Model: " << std::filesystem::path(info.base).filename().string()
    << ", Model family: " << family_name(info.family);
  if (r.clip_skip > 0) p << ", Clip skip: " << r.clip_skip;
  if (r.init_image) p << ", Denoising strength: " << format_float(result.strength);
  if (r.mask) {
    p << ", Inpainting: " << (info.unet_in_channels > info.latent_channels ? "unet" : "blend");
    if (r.mask_blur > 0) p << ", Mask blur: " << format_float(r.mask_blur);
    if (r.padding_mask_crop > 0) p << ", Inpaint padding: " << r.padding_mask_crop;
  }
  for (size_t i = 0; i < info.controlnets.size() && i < r.controls.size(); ++i) {
    const ControlImage& c = r.controls[i];
    p << ", ControlNet " << i
      << ": \"Model: " << std::filesystem::path(info.controlnets[i]).filename().string()
      << ", Weight: " << format_float(c.scale) << ", Guidance Start: " << format_float(c.start)
      << ", Guidance End: " << format_float(c.end) << "\"";
  }
  if (!info.loras.empty()) {
    // A1111 puts <lora:name:weight> in the prompt; we do not parse prompts, so the LoRAs get
    // their own entry: "name:weight, ..." with the file's stem as the name, as A1111's.
    p << ", LoRA: \"";
    for (size_t i = 0; i < info.loras.size(); ++i) {
      p << (i ? ", " : "") << std::filesystem::path(info.loras[i].file).stem().string() << ":"
        << format_float(info.loras[i].weight);
    }
    p << "\"";
  }
  for (size_t i = 0; i < info.adapters.size() && i < r.image_prompts.size(); ++i) {
    std::string suffix;  // " 2" for the second of several adapters
    if (info.adapters.size() > 1) suffix.append(" ").append(std::to_string(i + 1));
    p << ", IP-Adapter" << suffix << ": "
      << std::filesystem::path(info.adapters[i].file).filename().string() << ", IP-Adapter"
      << suffix << " scale: " << format_float(r.image_prompts[i].scale) << ", IP-Adapter" << suffix
      << " images: " << r.image_prompts[i].images.size();
  }
  p << ", Precision: " << precision_name(info.compute.precision) << ", Generator: ipadapter.cpp";
  return p.str();
}

}  // namespace ipa
