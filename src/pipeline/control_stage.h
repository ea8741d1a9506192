// ControlNets beside the UNet (diffusers' StableDiffusion[XL]ControlNet pipelines, and their
// img2img / inpainting variants). Each ControlNet reads the UNet's scaled latent input (4
// channels, before an inpainting UNet's extra ones), the timestep, the *text* conditioning
// (no image-prompt tokens: diffusers keeps the ControlNet's plain attention) and its control
// image in [0, 1]; its residuals, × scale × keep[i], are summed over the ControlNets and added
// to the UNet's skip connections and mid block. keep[i] = 0 when i/N < start or
// (i+1)/N > end, N the steps that run. Guess mode: the ControlNets see only the conditional
// half of the guidance batch, the unconditional half gets zero residuals.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ipadapter/engine.h"
#include "models/controlnet/controlnet.h"
#include "pipeline/denoise.h"

namespace ipa {

class ControlStage {
 public:
  // Reads each ControlNet's config (a folder's config.json; for a single file `config`, else
  // the family's built-in one) and checks it fits `unet`; the weights are converted by load().
  // A folder's weights file is chosen with `variant` (EngineOptions::variant).
  ControlStage(const std::vector<ControlNetOptions>& controlnets, const unet::UNetConfig& unet,
               ModelFamily family, Precision precision, const std::string& variant,
               const LogFn& log, Device device = Device{});
  ~ControlStage();

  size_t size() const { return nets_.size(); }
  const std::string& file(size_t i) const { return nets_[i].file; }
  // Converts the weights (with the UNet); release() frees them (one-shot engines).
  void load();
  void release();

  // Prepares the control images at the output size (Lanczos, stretched, as diffusers'
  // control_image_processor) and adds the per-step hook. `first_step` / `total_steps`: the
  // steps that run are [first_step, total_steps).
  void add_hook(const std::vector<ControlImage>& controls, int width, int height, int num_images,
                bool guidance, bool guess_mode, size_t first_step, size_t total_steps,
                DenoiseHooks* hooks);

 private:
  struct Net {
    std::string file;
    bool folder = false;
    controlnet::ControlNetConfig config;
    std::unique_ptr<controlnet::ControlNetModel> model;
  };
  std::vector<Net> nets_;
  Precision precision_;
  Device device_;  // of the ControlNets' weights
  std::string variant_;
  LogFn log_;
};

}  // namespace ipa
