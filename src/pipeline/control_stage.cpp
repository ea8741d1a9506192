#include "pipeline/control_stage.h"

#include <filesystem>

#include "formats/builtin_configs.h"
#include "image/vae_image.h"
#include "ops/ops.h"

namespace fs = std::filesystem;

namespace ipa {

ControlStage::ControlStage(const std::vector<ControlNetOptions>& controlnets,
                           const unet::UNetConfig& unet, ModelFamily family, Precision precision,
                           const std::string& variant, const LogFn& log, Device device)
    : precision_(precision), device_(device), variant_(variant), log_(log) {
  for (size_t i = 0; i < controlnets.size(); ++i) {
    const ControlNetOptions& o = controlnets[i];
    const std::string field = "controlnets[" + std::to_string(i) + "] (--controlnet)";
    Net net;
    net.file = o.file;
    if (fs::is_directory(o.file)) {
      if (!o.config.empty()) {
        throw Error(field +
                        ": a ControlNet folder brings its own config.json; --controlnet-config "
                        "is for single files",
                    o.file);
      }
      net.folder = true;
      net.config = controlnet::load_controlnet_config(o.file);
    } else if (fs::is_regular_file(o.file)) {
      if (!o.config.empty()) {
        net.config = controlnet::load_controlnet_config(o.config);
      } else {
        // A bare file: the family's standard ControlNet (v1.1 for SD1.5, diffusers' SDXL one).
        const std::string name = family == ModelFamily::SDXL ? "controlnet_sdxl/config.json"
                                                             : "controlnet_sd15/config.json";
        net.config =
            controlnet::parse_controlnet_config(builtin_config(name), "built-in configs/" + name);
      }
    } else {
      throw Error(field + ": no such file or folder", o.file);
    }
    controlnet::check_compatible(net.config, unet);
    nets_.push_back(std::move(net));
  }
}

ControlStage::~ControlStage() = default;

void ControlStage::load() {
  for (Net& n : nets_) {
    if (n.model) continue;
    n.model = std::make_unique<controlnet::ControlNetModel>(
        n.folder ? controlnet::ControlNetModel::load_dir(n.file, precision_, variant_, device_)
                 : controlnet::ControlNetModel::load_file(n.file, n.config, precision_, device_));
    if (log_) log_("controlnet: " + n.file);
  }
}

void ControlStage::release() {
  for (Net& n : nets_) n.model.reset();
}

void ControlStage::add_hook(const std::vector<ControlImage>& controls, int width, int height,
                            int num_images, bool guidance, bool guess_mode, size_t first_step,
                            size_t total_steps, DenoiseHooks* hooks) {
  if (nets_.empty()) return;
  load();
  struct Active {
    const controlnet::ControlNetModel* model;
    Tensor image;  // [n or 2n, 3, H, W]
    float scale, start, end;
    bool guess;
  };
  std::vector<Active> active;
  for (size_t k = 0; k < nets_.size(); ++k) {
    const ControlImage& c = controls.at(k);
    Tensor img = image::unit_pixels(c.image, width, height);
    img = ops::concat(std::vector<Tensor>(static_cast<size_t>(num_images), img), 0);
    // global_pool_conditions implies guess mode (diffusers).
    const bool guess = guess_mode || nets_[k].config.global_pool_conditions;
    if (guidance && !guess) img = ops::concat({img, img}, 0);
    // On the ControlNets' device once, not per step.
    active.push_back({nets_[k].model.get(), img.to(device_), c.scale, c.start, c.end, guess});
  }
  const double runs = static_cast<double>(total_steps - first_step);
  const int64_t n = num_images;
  hooks->before_unet.push_back(
      [active, first_step, runs, guidance, n](size_t step, unet::UNetInputs& in) {
        const double i = static_cast<double>(step - first_step);
        for (const Active& a : active) {
          const bool keep = !(i / runs < a.start || (i + 1) / runs > a.end);
          if (!keep) continue;  // diffusers runs it at scale 0: zero residuals, the same UNet call
          const bool half = guidance && a.guess;
          auto cond_half = [&](const Tensor& t) {
            return half && t.defined() ? ops::slice(t, 0, n, 2 * n) : t;
          };
          controlnet::ControlNetInputs ci;
          ci.sample = cond_half(in.sample);
          ci.timestep = in.timestep;
          ci.text = cond_half(in.text);
          ci.text_embeds = cond_half(in.text_embeds);
          ci.time_ids = cond_half(in.time_ids);
          ci.image = a.image;
          ci.conditioning_scale = a.scale;
          ci.guess_mode = a.guess;
          controlnet::ControlNetOutput out = a.model->forward(ci);
          if (half) {
            // The unconditional half gets no control.
            for (Tensor& r : out.down_residuals) {
              r = ops::concat({Tensor::zeros_on(r.device(), r.shape()), r}, 0);
            }
            const Tensor& mid = out.mid_residual;
            out.mid_residual = ops::concat({Tensor::zeros_on(mid.device(), mid.shape()), mid}, 0);
          }
          controlnet::add_residuals(out, &in);
        }
      });
}

}  // namespace ipa
