// Diffusion schedulers that reproduce diffusers 0.30.3 step by step (same float32/float64
// rounding), behind one small diffusers-like interface:
//
//   auto sched = make_scheduler_from_file("euler_a", "model/scheduler/scheduler_config.json");
//   sched->set_timesteps(30);
//   latents = latents * sched->init_noise_sigma();
//   for (size_t i = 0; i < sched->timesteps().size(); ++i) {
//     Tensor x_in = sched->scale_model_input(latents, i);
//     Tensor eps = unet(x_in, sched->timesteps()[i], ...);
//     latents = sched->step(eps, i, latents, &generator).prev_sample;
//   }
//
// Steps are addressed by index into timesteps() (diffusers' step_index); multistep schedulers
// (PNDM, LMS, DPM-Solver) keep history, so after the first step the indices must follow on.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sampling/scheduler_config.h"
#include "sampling/torch_rng.h"
#include "tensor/tensor.h"

namespace ipa::sampling {

struct StepOutput {
  Tensor prev_sample;           // x_{t-1}
  Tensor pred_original_sample;  // predicted x_0 (LCM: its `denoised`); undefined where diffusers
                                // does not return it
  Tensor pred_noised_sample{};  // TCD only: x_s, the prediction renoised to timestep s
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;

  SchedulerKind kind() const { return kind_; }
  const SchedulerConfig& config() const { return config_; }
  // The diffusers class name, e.g. "EulerDiscreteScheduler".
  virtual std::string class_name() const = 0;

  // Builds the inference schedule: 1 <= num_inference_steps <= num_train_timesteps.
  // Resets all multistep history.
  virtual void set_timesteps(int num_inference_steps) = 0;
  int num_inference_steps() const { return num_inference_steps_; }

  // The model timestep of each step (integers for DDIM/PNDM/DPM/LCM/TCD, float32 values for
  // Euler/LMS).
  // PNDM repeats one timestep, so it has num_inference_steps + 1 entries.
  const std::vector<double>& timesteps() const { return timesteps_; }
  // The noise levels, one more than timesteps (the final level); empty for the alpha-bar
  // schedulers (DDIM, PNDM, LCM, TCD).
  const std::vector<float>& sigmas() const { return sigmas_; }

  // Factor for the initial noise (diffusers' init_noise_sigma).
  virtual float init_noise_sigma() const { return 1.0f; }
  // The UNet input for step `step_index` (identity except for sigma schedulers).
  virtual Tensor scale_model_input(const Tensor& sample, size_t step_index) const;
  // One denoising step. `noise` supplies the noise of stochastic samplers (Euler ancestral,
  // DDIM with eta > 0, SDE-DPM-Solver++, LCM and TCD with gamma > 0 on every step but the
  // last); it may be null for the others (Euler still draws from it when given, exactly as
  // diffusers does, so a shared generator stays in step).
  virtual StepOutput step(const Tensor& model_output, size_t step_index, const Tensor& sample,
                          NoiseSource* noise) = 0;

  // img2img: noise `original` to the level of step `step_index` (diffusers' add_noise with
  // timesteps[step_index], or the begin index for sigma schedulers).
  virtual Tensor add_noise(const Tensor& original, const Tensor& noise,
                           size_t step_index) const = 0;
  // img2img: the first step index for a denoising strength in [0, 1], as diffusers'
  // StableDiffusionImg2ImgPipeline.get_timesteps computes it (t_start).
  size_t first_step_for_strength(double strength) const;

  // DDIM's eta, TCD's gamma (the other schedulers ignore it, like diffusers' pipelines do).
  virtual void set_eta(float /*eta*/) {}

 protected:
  Scheduler(SchedulerKind kind, SchedulerConfig config) : kind_(kind), config_(std::move(config)) {}
  // Throws ipa::Error unless 1 <= n <= num_train_timesteps.
  void check_num_steps(int n) const;
  // Throws ipa::Error when step_index is out of range for timesteps() (or set_timesteps was
  // not called).
  void check_step_index(size_t step_index) const;
  // For schedulers with history: the first step after set_timesteps may start anywhere
  // (img2img), later ones must follow on. Throws ipa::Error otherwise. record_step marks a
  // step as done once it succeeded.
  void check_step_order(size_t step_index) const;
  void record_step(size_t step_index) { last_step_ = step_index; }
  // Throws ipa::Error when a timestep falls outside [0, num_train_timesteps).
  void check_timesteps_in_range() const;
  // Draws noise of `shape` or throws when the sampler needs it and none was given.
  Tensor require_noise(NoiseSource* noise, const Shape& shape) const;

  SchedulerKind kind_;
  SchedulerConfig config_;
  int num_inference_steps_ = 0;
  std::vector<double> timesteps_;
  std::vector<float> sigmas_;
  std::optional<size_t> last_step_;  // for check_step_order
};

// `name` picks the scheduler: a diffusers class name ("DDIMScheduler", "PNDMScheduler",
// "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "DPMSolverMultistepScheduler",
// "LMSDiscreteScheduler", "LCMScheduler", "TCDScheduler"), a short name ("ddim", "pndm",
// "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "dpmpp_2m_sde", "dpmpp_2m_sde_karras",
// "lms", "lms_karras", "euler_karras", "lcm", "tcd"), or "" / "default" for the config's own
// `_class_name`. Short names set the
// options their sampler implies on top of the config (e.g. use_karras_sigmas).
// A non-empty `timestep_spacing` ("leading", "trailing", "linspace") replaces the config's (as
// diffusers' from_config(config, timestep_spacing=...)); LCM and TCD refuse one, since they
// would ignore it.
std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const nlohmann::json& config,
                                          const std::string& source = "scheduler config",
                                          const std::string& timestep_spacing = "");
std::unique_ptr<Scheduler> make_scheduler_from_file(const std::string& name,
                                                    const std::string& config_path);
// Names make_scheduler accepts, for help texts.
std::vector<std::string> scheduler_names();

}  // namespace ipa::sampling
