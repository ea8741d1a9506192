// What DDIM and PNDM share in diffusers: the alphas_cumprod ("alpha bar") table indexed by
// integer training timestep, the final alpha bar used past timestep 0 (set_alpha_to_one), and
// img2img noise added as sqrt(alpha_bar) x + sqrt(1 - alpha_bar) noise.
#pragma once
#include <cstdint>
#include <vector>

#include "sampling/scheduler.h"

namespace ipa::sampling {

class AlphaBarScheduler : public Scheduler {
 public:
  Tensor add_noise(const Tensor& original, const Tensor& noise, size_t step_index) const override;

 protected:
  AlphaBarScheduler(SchedulerKind kind, SchedulerConfig config);

  // alphas_cumprod[t], or the final alpha bar for t < 0 (the step after the last).
  float alpha_prod(int64_t t) const {
    return t >= 0 ? alphas_cumprod_[static_cast<size_t>(t)] : final_alpha_cumprod_;
  }

  // diffusers' predicted original sample x0 and noise eps from the model output at alpha bar
  // a_t, by the config's prediction_type (epsilon / sample / v_prediction); eps only when
  // `with_eps` (else undefined).
  struct Prediction {
    Tensor x0, eps;
  };
  Prediction predict(const Tensor& model_output, const Tensor& sample, float a_t,
                     bool with_eps = true) const;

  std::vector<float> alphas_cumprod_;
  float final_alpha_cumprod_ = 1.0f;
};

}  // namespace ipa::sampling
