// EulerDiscreteScheduler (diffusers 0.30.3), without churn (s_churn = 0, as pipelines call it):
// x_{i+1} = x_i + (x_i - x0_i) / sigma_i * (sigma_{i+1} - sigma_i).
#include <cmath>

#include "base/error.h"
#include "sampling/noise_schedule.h"
#include "sampling/scheduler_registry.h"
#include "sampling/sigma_scheduler.h"
#include "sampling/tensor_loops.h"

namespace ipa::sampling {
namespace {

class EulerScheduler final : public SigmaScheduler {
 public:
  explicit EulerScheduler(SchedulerConfig c)
      : SigmaScheduler(SchedulerKind::kEuler, std::move(c)) {}

  std::string class_name() const override { return "EulerDiscreteScheduler"; }

  void set_timesteps(int n) override {
    std::vector<float> timesteps = start_schedule(n);
    std::vector<double> sigmas;
    if (config_.interpolation_type == "linear") {
      sigmas = interpolated_sigmas(timesteps);
    } else {  // log_linear: torch.linspace(log(max), log(min), n + 1).exp(), as diffusers does
      const std::vector<float> logs = torch_linspace_f32(std::log(train_sigmas_.back()),
                                                         std::log(train_sigmas_.front()), n + 1);
      for (float l : logs) sigmas.push_back(std::exp(l));
    }
    if (config_.use_karras_sigmas) {
      const double sigma_min = config_.sigma_min.value_or(sigmas.back());
      const double sigma_max = config_.sigma_max.value_or(sigmas.front());
      sigmas = karras_schedule(sigma_min, sigma_max, n, &timesteps);
    }
    // "sigma_min" is ((1 - alphas_cumprod[0]) / alphas_cumprod[0]) ** 0.5, train sigma 0.
    const float final_sigma = config_.final_sigmas_type == "zero" ? 0.0f : train_sigmas_.front();
    store_schedule(timesteps, sigmas, final_sigma);
    if (config_.timestep_type == "continuous" && config_.prediction_type == "v_prediction") {
      // EDM-style model input: c_noise = log(sigma) / 4.
      for (size_t i = 0; i < timesteps_.size(); ++i) {
        timesteps_[i] = 0.25f * std::log(sigmas_[i]);
      }
    }
  }

  StepOutput step(const Tensor& model_output_in, size_t step_index, const Tensor& sample_in,
                  NoiseSource* noise) override {
    check_step_index(step_index);
    const auto [model_output, sample] =
        detail::as_f32_pair(model_output_in, "model_output", sample_in, "sample");
    // diffusers draws churn noise on every step even when the churn is zero; drawing it too
    // keeps a shared generator in the same state.
    if (noise != nullptr) (void)noise->randn(model_output.shape());

    const float sigma = sigmas_[step_index];
    const float sigma_hat = sigma * 1.0f;  // sigma * (gamma + 1) with gamma = 0
    const Tensor x0 = predict_original(model_output, sample, sigma_hat);
    const float dt = sigmas_[step_index + 1] - sigma_hat;
    const float* s = detail::cdata(sample);
    const float* p = detail::cdata(x0);
    Tensor prev = detail::generate(sample.shape(), [&](int64_t i) {
      const float derivative = (s[i] - p[i]) / sigma_hat;
      return s[i] + derivative * dt;
    });
    return {prev, x0};
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_euler_scheduler(SchedulerConfig config) {
  return std::make_unique<EulerScheduler>(std::move(config));
}

}  // namespace ipa::sampling
