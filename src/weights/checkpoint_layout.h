// What a single-file Stable Diffusion checkpoint holds, from its key names alone: the model
// family (SD1.x: CompVis LDM names; SDXL: Stability SGM names) and which models are in it.
// Checkpoints of families this engine does not run (SD 2.x, the SDXL refiner, SD3, Flux, ...)
// are refused here, naming the file and what was recognised, before anything is read.
#pragma once
#include <string>
#include <vector>

#include "ipadapter/types.h"

namespace ipa {

struct CheckpointLayout {
  ModelFamily family = ModelFamily::SD15;
  // `torch.save({'state_dict': ...})` (Lightning) files: every name starts with "state_dict.".
  std::string wrapper;
  // Prefixes (after the wrapper) of the models in the file; "" when the model is absent.
  std::string unet = "model.diffusion_model.";
  std::string vae;  // "first_stage_model."
  std::string
      text_encoder;  // "cond_stage_model.transformer." / "conditioner.embedders.0.transformer."
  std::string text_encoder_2;  // SDXL: "conditioner.embedders.1.model." (OpenCLIP layout)
  size_t ema_keys = 0;         // model_ema.* (EMA copy of the UNet; ignored, as diffusers does)
};

// `keys` are the file's tensor names, `path` names it in errors. Throws ipa::Error for a file
// that is not an SD1.x / SDXL checkpoint, saying what it looks like.
CheckpointLayout detect_checkpoint_layout(const std::vector<std::string>& keys,
                                          const std::string& path);

// True when the names look like a whole single-file Stable Diffusion checkpoint of any family
// (a UNet under model.diffusion_model. or a DiT/MMDiT of a later family) — for `inspect`.
bool looks_like_sd_checkpoint(const std::vector<std::string>& keys);

}  // namespace ipa
