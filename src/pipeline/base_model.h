// The base model: which family it is and where its parts are. A diffusers pipeline folder
// (family from model_index.json's _class_name and the UNet config) or a single-file checkpoint
// (family from its key names, configs from a --config folder or the built-in full-size ones).
// Decided once, at load; an unknown family or parts that disagree with it are refused with
// what was found and what was expected.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ipadapter/types.h"
#include "models/unet/config.h"
#include "pipeline/file_part.h"

namespace ipa {

struct BaseModel {
  std::string dir;  // the folder, or the single-file checkpoint
  ModelFamily family = ModelFamily::SD15;
  std::string pipeline_class;  // model_index.json's _class_name, or what it was inferred to be
  // SDXL: zero negative embeddings when no negative prompt is given (model_index.json).
  bool force_zeros_for_empty_prompt = false;
  // Each model's folder, or (with its *_part set) the single file it is read from.
  std::string unet_dir, vae_dir;
  std::optional<FilePart> unet_part, vae_part;
  // One per text encoder (SD1.5: 1, SDXL: 2); a tokenizer folder may be "" (no tokenizer/
  // folder: the built-in CLIP vocabulary is used).
  std::vector<std::string> text_encoder_dirs, tokenizer_dirs;
  std::vector<std::optional<FilePart>> text_encoder_parts;  // as text_encoder_dirs
  std::string scheduler_config;                             // where the scheduler config came from
  nlohmann::json scheduler;                                 // the scheduler config itself
  unet::UNetConfig unet_config;
  // The weights variant every part's folder prefers ("fp16": model.fp16.safetensors, ...;
  // EngineOptions::variant); empty = full precision.
  std::string variant;
};

// A diffusers pipeline folder: reads model_index.json (optional: without it the family is
// inferred from the UNet config) and the UNet config, and checks that every part the family
// needs is there. A file: a single-file checkpoint (open_single_file_base), read with the
// configs of `config_dir` when given.
BaseModel open_base_model(const std::string& path, const std::string& config_dir = "");

// A single-file SD1.x / SDXL checkpoint (.safetensors, .ckpt; F32, F16 or BF16): the family
// from its keys (other families refused, naming what they are), every model's config from
// `config_dir` (a diffusers pipeline folder describing the checkpoint: unet/, vae/,
// text_encoder[_2]/ config.json, scheduler/, tokenizer[_2]/, model_index.json) or, when it is
// "", the family's built-in full-size configs (configs/sd15, configs/sdxl). A model the file
// lacks is read from `config_dir` when that folder has its weights; otherwise refused.
BaseModel open_single_file_base(const std::string& path, const std::string& config_dir);

// The base's models, from their folders or the single file.
ModelFolder open_base_unet(const BaseModel& base, DType layer_dtype);
ModelFolder open_base_vae(const BaseModel& base, DType layer_dtype);
ModelFolder open_base_text_encoder(const BaseModel& base, size_t index, DType layer_dtype);

// Replaces the base's VAE (--vae): a diffusers VAE folder, or one file — diffusers names, or the
// original names (encoder.down.*, with or without first_stage_model.: a VAE-only file such as
// vae-ft-mse-840000, or another checkpoint's VAE). A file is read with `config_dir`'s
// vae/config.json, else the base folder's, else the family's built-in one.
void use_vae(BaseModel& base, const std::string& path, const std::string& config_dir);

// Replaces the base's UNet with the diffusers UNet folder `dir` (an inpainting UNet, a
// fine-tune): it must be of the base's family and take the same text conditioning; the error
// names `--unet` and both values otherwise.
void use_unet_folder(BaseModel& base, const std::string& dir);

}  // namespace ipa
