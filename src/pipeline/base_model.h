// A diffusers pipeline folder: which model family it is and where its parts are. Decided
// once, at load, from model_index.json's _class_name and the UNet config; an unknown family or
// a folder whose parts disagree with it is refused with what was found and what was expected.
#pragma once
#include <string>
#include <vector>

#include "ipadapter/types.h"
#include "models/unet/config.h"

namespace ipa {

struct BaseModel {
  std::string dir;
  ModelFamily family = ModelFamily::SD15;
  std::string pipeline_class;  // model_index.json's _class_name, or what it was inferred to be
  // SDXL: zero negative embeddings when no negative prompt is given (model_index.json).
  bool force_zeros_for_empty_prompt = false;
  std::string unet_dir, vae_dir, scheduler_config;
  // One per text encoder (SD1.5: 1, SDXL: 2); a tokenizer folder may be "" (no tokenizer/
  // folder: the built-in CLIP vocabulary is used).
  std::vector<std::string> text_encoder_dirs, tokenizer_dirs;
  unet::UNetConfig unet_config;
  // The weights variant every part's folder prefers ("fp16": model.fp16.safetensors, ...;
  // EngineOptions::variant); empty = full precision.
  std::string variant;
};

// Reads model_index.json (optional: without it the family is inferred from the UNet config)
// and the UNet config, and checks that every part the family needs is there.
BaseModel open_base_model(const std::string& dir);

// Replaces the base's UNet with the diffusers UNet folder `dir` (an inpainting UNet, a
// fine-tune): it must be of the base's family and take the same text conditioning; the error
// names `--unet` and both values otherwise.
void use_unet_folder(BaseModel& base, const std::string& dir);

}  // namespace ipa
