#include "weights/checkpoint_layout.h"

#include <algorithm>
#include <set>

#include "base/error.h"

namespace ipa {

namespace {

bool starts(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

struct Keys {
  const std::vector<std::string>& all;
  std::string wrapper;
  bool any(const std::string& prefix) const {
    const std::string p = wrapper + prefix;
    return std::any_of(all.begin(), all.end(), [&](const std::string& k) { return starts(k, p); });
  }
  size_t count(const std::string& prefix) const {
    const std::string p = wrapper + prefix;
    return static_cast<size_t>(
        std::count_if(all.begin(), all.end(), [&](const std::string& k) { return starts(k, p); }));
  }
};

// The first two name levels present ("model.diffusion_model", "first_stage_model.encoder"),
// for messages about files that are not recognised.
std::string top_levels(const std::vector<std::string>& keys) {
  std::set<std::string> seen;
  for (const auto& k : keys) {
    const size_t a = k.find('.');
    const size_t b = a == std::string::npos ? a : k.find('.', a + 1);
    seen.insert(k.substr(0, b));
    if (seen.size() > 8) break;
  }
  std::string out;
  for (const auto& s : seen)
    out += (out.empty() ? "" : ", ") + s + (s.find('.') != s.npos ? ".*" : "");
  return out.empty() ? "no tensors" : out;
}

// Later or other families, recognised by names only they have.
struct Foreign {
  const char* prefix;
  const char* what;
};
constexpr Foreign kForeign[] = {
    {"model.diffusion_model.joint_blocks.", "Stable Diffusion 3 (MMDiT joint_blocks)"},
    {"model.diffusion_model.double_blocks.", "Flux (double_blocks)"},
    {"double_blocks.", "Flux (double_blocks)"},
    {"model.diffusion_model.transformer_blocks.", "a DiT (transformer_blocks: PixArt, SD3-like)"},
    {"cond_stage_model.model.",
     "Stable Diffusion 2.x (OpenCLIP ViT-H text encoder, cond_stage_model.model.*; "
     "1024-wide cross-attention)"},
};

}  // namespace

bool looks_like_sd_checkpoint(const std::vector<std::string>& keys) {
  for (const std::string w : {"", "state_dict."}) {
    const Keys k{keys, w};
    if (k.any("model.diffusion_model.") || k.any("double_blocks.")) return true;
  }
  return false;
}

CheckpointLayout detect_checkpoint_layout(const std::vector<std::string>& keys,
                                          const std::string& path) {
  CheckpointLayout l;
  Keys k{keys, ""};
  if (!k.any("model.diffusion_model.") && !k.any("model_ema.") &&
      Keys{keys, "state_dict."}.any("")) {
    k.wrapper = l.wrapper = "state_dict.";
  }
  for (const auto& f : kForeign) {
    if (k.any(f.prefix)) {
      throw Error(std::string("this is a ") + f.what + " checkpoint (it has " + f.prefix +
                      "* weights); only Stable Diffusion 1.x and SDXL single-file checkpoints "
                      "are supported",
                  path);
    }
  }
  l.ema_keys = k.count("model_ema.");
  if (!k.any(l.unet)) {
    throw Error(
        std::string("not a Stable Diffusion 1.x / SDXL checkpoint: no UNet weights "
                    "(model.diffusion_model.*)") +
            (l.ema_keys ? " — only an EMA copy (model_ema.*), which is not supported" : "") +
            "; found " + top_levels(keys),
        path);
  }
  const bool sgm = k.any("conditioner.");
  if (k.any("first_stage_model.")) l.vae = "first_stage_model.";
  if (sgm) {
    if (k.any("conditioner.embedders.0.model.") && !k.any("conditioner.embedders.1.")) {
      throw Error(
          "this is an SDXL refiner checkpoint (its only text encoder is OpenCLIP ViT-bigG at "
          "conditioner.embedders.0.model.*); only SDXL base-architecture checkpoints are supported",
          path);
    }
    l.family = ModelFamily::SDXL;
    if (k.any("conditioner.embedders.0.transformer.")) {
      l.text_encoder = "conditioner.embedders.0.transformer.";
    }
    if (k.any("conditioner.embedders.1.model."))
      l.text_encoder_2 = "conditioner.embedders.1.model.";
  } else {
    // Without SGM's conditioner the UNet decides: SDXL's takes pooled text and size ids.
    l.family = k.any("model.diffusion_model.label_emb.") ? ModelFamily::SDXL : ModelFamily::SD15;
    if (k.any("cond_stage_model.transformer.")) l.text_encoder = "cond_stage_model.transformer.";
  }
  return l;
}

}  // namespace ipa
