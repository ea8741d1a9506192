// The staged text+image-prompt pipeline behind ipa::Engine, one class for every family:
//   text conditioning (FamilyStages) → image prompt (ImagePromptStage) → initial latents →
//   denoising loop (denoise.h: guidance, hooks) → decode (decode.h).
// What differs per family lives in FamilyStages; the request is the public, typed one.
#pragma once
#include <memory>
#include <optional>

#include "ipadapter/engine.h"
#include "models/unet/unet.h"
#include "models/vae/autoencoder_kl.h"
#include "pipeline/base_model.h"
#include "pipeline/control_stage.h"
#include "pipeline/family_stages.h"
#include "pipeline/image_prompt_stage.h"
#include "weights/model_folder.h"

namespace ipa {

class DiffusionPipeline {
 public:
  // Opens and checks everything (EngineOptions says which models); in one-shot mode the heavy
  // weights are converted only when their phase comes.
  explicit DiffusionPipeline(const EngineOptions& options);
  ~DiffusionPipeline();

  const EngineInfo& info() const { return info_; }
  void check(const GenerateRequest& request) const;
  GenerateResult generate(const GenerateRequest& request, const Callbacks& callbacks);

 private:
  Device device_;   // ComputeOptions::device: where every model's weights live
  struct Resolved;  // a request's defaults resolved against the models
  Resolved resolve(const GenerateRequest& request) const;
  const unet::UNet2DConditionModel& unet();
  const vae::AutoencoderKL& vae();
  void say(const std::string& s) const;

  EngineOptions options_;
  BaseModel base_;
  EngineInfo info_;
  nlohmann::json scheduler_config_;
  std::unique_ptr<FamilyStages> family_;
  std::unique_ptr<ImagePromptStage> image_prompt_;
  std::unique_ptr<ControlStage> control_;  // null without ControlNets
  ModelFolder unet_folder_, vae_folder_;
  vae::VaeConfig vae_config_;
  std::unique_ptr<unet::UNet2DConditionModel> unet_;
  std::unique_ptr<vae::AutoencoderKL> vae_;
  bool generated_ = false;
};

}  // namespace ipa
