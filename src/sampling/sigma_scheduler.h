// What the k-diffusion style schedulers (Euler, Euler ancestral, LMS) share in diffusers:
// sigmas interpolated at the (float) timesteps, inputs scaled by 1/sqrt(sigma^2 + 1), and
// img2img noise added as x + sigma * noise.
#pragma once
#include <vector>

#include "sampling/noise_schedule.h"
#include "sampling/scheduler.h"

namespace ipa::sampling {

class SigmaScheduler : public Scheduler {
 public:
  float init_noise_sigma() const override;
  Tensor scale_model_input(const Tensor& sample, size_t step_index) const override;
  Tensor add_noise(const Tensor& original, const Tensor& noise, size_t step_index) const override;

 protected:
  SigmaScheduler(SchedulerKind kind, SchedulerConfig config);

  // The start of every set_timesteps(n): checks n, records it and returns the float32
  // timesteps of the configured spacing.
  std::vector<float> start_schedule(int n);
  // np.interp(timesteps, arange(num_train), train_sigmas) in float64.
  std::vector<double> interpolated_sigmas(const std::vector<float>& timesteps) const {
    return interpolate_sigmas(train_sigmas_, timesteps);
  }
  // n Karras sigmas from sigma_max down to sigma_min; *timesteps becomes their fractional
  // training timesteps (diffusers' _sigma_to_t, as float32).
  std::vector<double> karras_schedule(double sigma_min, double sigma_max, int n,
                                      std::vector<float>* timesteps) const;
  // timesteps_/sigmas_ from float32 timesteps and float64 sigmas plus a final sigma.
  void store_schedule(const std::vector<float>& timesteps, const std::vector<double>& sigmas,
                      float final_sigma);
  // The x_0 prediction of diffusers' step() for `prediction_type`, in float32.
  Tensor predict_original(const Tensor& model_output, const Tensor& sample, float sigma) const;

  std::vector<float> train_sigmas_;  // indexed by training timestep
  std::vector<float> log_sigmas_;
};

}  // namespace ipa::sampling
