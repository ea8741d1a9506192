// TCDScheduler (diffusers 0.30.3), Trajectory Consistency Distillation's strategic stochastic
// sampling: each step predicts x_0 and eps, renoises them deterministically to an earlier
// timestep s = floor((1 - gamma) * t_prev) (x_s), then, for gamma > 0 and except on the last
// step, forward-diffuses x_s to t_prev with fresh noise. gamma = 0 is deterministic; gamma is
// diffusers' step() argument `eta` (default 0.3).
#include <cmath>

#include "base/error.h"
#include "sampling/alpha_bar_scheduler.h"
#include "sampling/consistency.h"
#include "sampling/scheduler_registry.h"
#include "sampling/tensor_loops.h"

namespace ipa::sampling {
namespace {

class TCDScheduler final : public AlphaBarScheduler {
 public:
  explicit TCDScheduler(SchedulerConfig c) : AlphaBarScheduler(SchedulerKind::kTCD, std::move(c)) {
    if (config_.thresholding) {
      throw Error("TCDScheduler: thresholding (dynamic thresholding) is not supported",
                  config_.source, "thresholding");
    }
  }

  std::string class_name() const override { return "TCDScheduler"; }

  void set_eta(float gamma) override {
    if (!(gamma >= 0.0f && gamma <= 1.0f)) {
      throw Error("TCD's gamma (eta) must lie in [0, 1], got " + std::to_string(gamma));
    }
    gamma_ = gamma;
  }

  void set_timesteps(int n) override {
    const auto t = consistency_timesteps(config_.num_train_timesteps,
                                         config_.original_inference_steps, n, config_.source);
    num_inference_steps_ = n;
    timesteps_.assign(t.begin(), t.end());
  }

  StepOutput step(const Tensor& model_output_in, size_t step_index, const Tensor& sample_in,
                  NoiseSource* noise) override {
    check_step_index(step_index);
    const auto [model_output, sample] =
        detail::as_f32_pair(model_output_in, "model_output", sample_in, "sample");

    const auto t = static_cast<int64_t>(timesteps_[step_index]);
    const bool last = step_index + 1 == timesteps_.size();
    const int64_t prev_t = last ? 0 : static_cast<int64_t>(timesteps_[step_index + 1]);
    const int64_t ts = tcd_timestep_s(prev_t, gamma_);
    const float a_t = alphas_cumprod_[static_cast<size_t>(t)];
    const float a_prev = alpha_prod(prev_t);
    const float a_s = alphas_cumprod_[static_cast<size_t>(ts)];
    const auto [x0, eps] = predict(model_output, sample, a_t);
    const float sqrt_a_s = std::sqrt(a_s);
    const float sqrt_b_s = std::sqrt(1.0f - a_s);
    const float* p = detail::cdata(x0);
    const float* e = detail::cdata(eps);
    Tensor x_s = detail::generate(sample.shape(),
                                  [&](int64_t i) { return sqrt_a_s * p[i] + sqrt_b_s * e[i]; });
    if (!(gamma_ > 0.0f) || last) return {x_s, x0, x_s};

    const Tensor z = require_noise(noise, model_output.shape());
    const float ratio = a_prev / a_s;
    const float keep = std::sqrt(ratio);
    const float add = std::sqrt(1.0f - ratio);
    const float* xs = detail::cdata(x_s);
    const float* zp = detail::cdata(z);
    Tensor prev =
        detail::generate(sample.shape(), [&](int64_t i) { return keep * xs[i] + add * zp[i]; });
    return {prev, x0, x_s};
  }

 private:
  float gamma_ = 0.3f;  // TCDScheduler.step's default eta
};

}  // namespace

std::unique_ptr<Scheduler> make_tcd_scheduler(SchedulerConfig config) {
  return std::make_unique<TCDScheduler>(std::move(config));
}

}  // namespace ipa::sampling
