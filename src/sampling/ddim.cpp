// DDIMScheduler (diffusers 0.30.3): deterministic for eta = 0; eta > 0 adds fresh noise.
#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "sampling/alpha_bar_scheduler.h"
#include "sampling/scheduler_registry.h"
#include "sampling/tensor_loops.h"
#include "sampling/timestep_spacing.h"

namespace ipa::sampling {
namespace {

class DDIMScheduler final : public AlphaBarScheduler {
 public:
  explicit DDIMScheduler(SchedulerConfig c)
      : AlphaBarScheduler(SchedulerKind::kDDIM, std::move(c)) {
    if (config_.thresholding) {
      throw Error("DDIMScheduler: thresholding (dynamic thresholding) is not supported",
                  config_.source, "thresholding");
    }
  }

  std::string class_name() const override { return "DDIMScheduler"; }
  void set_eta(float eta) override {
    if (!(eta >= 0.0f)) throw Error("DDIM eta must be >= 0, got " + std::to_string(eta));
    eta_ = eta;
  }

  void set_timesteps(int n) override {
    check_num_steps(n);
    num_inference_steps_ = n;
    const auto t = ddim_timesteps(config_.timestep_spacing, config_.num_train_timesteps, n,
                                  config_.steps_offset);
    timesteps_.assign(t.begin(), t.end());
    check_timesteps_in_range();
  }

  StepOutput step(const Tensor& model_output_in, size_t step_index, const Tensor& sample_in,
                  NoiseSource* noise) override {
    check_step_index(step_index);
    const auto [model_output, sample] =
        detail::as_f32_pair(model_output_in, "model_output", sample_in, "sample");

    const auto t = static_cast<int64_t>(timesteps_[step_index]);
    const int64_t prev_t = t - config_.num_train_timesteps / num_inference_steps_;
    const float a_t = alphas_cumprod_[static_cast<size_t>(t)];
    const float a_prev = alpha_prod(prev_t);
    const float b_t = 1.0f - a_t;
    auto [pred_x0, pred_eps] = predict(model_output, sample, a_t);
    if (config_.clip_sample) {
      const auto range = static_cast<float>(config_.clip_sample_range);
      const float* x = detail::cdata(pred_x0);
      pred_x0 = detail::generate(sample.shape(),
                                 [&](int64_t i) { return std::clamp(x[i], -range, range); });
    }

    // sigma_t(eta) of formula (16) of the DDIM paper.
    const float b_prev = 1.0f - a_prev;
    const float variance = (b_prev / b_t) * (1.0f - a_t / a_prev);
    const float std_dev_t = eta_ * std::sqrt(variance);
    const float dir_coeff = std::sqrt(1.0f - a_prev - std_dev_t * std_dev_t);
    const float sqrt_a_prev = std::sqrt(a_prev);

    const float* x0 = detail::cdata(pred_x0);
    const float* eps = detail::cdata(pred_eps);
    Tensor prev = detail::generate(
        sample.shape(), [&](int64_t i) { return sqrt_a_prev * x0[i] + dir_coeff * eps[i]; });
    if (eta_ > 0.0f) {
      const Tensor z = require_noise(noise, model_output.shape());
      const float* zp = detail::cdata(z);
      float* p = prev.data<float>();
      for (int64_t i = 0; i < prev.numel(); ++i) p[i] = p[i] + std_dev_t * zp[i];
    }
    return {prev, pred_x0};
  }

 private:
  float eta_ = 0.0f;
};

}  // namespace

std::unique_ptr<Scheduler> make_ddim_scheduler(SchedulerConfig config) {
  return std::make_unique<DDIMScheduler>(std::move(config));
}

}  // namespace ipa::sampling
