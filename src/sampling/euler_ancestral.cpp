// EulerAncestralDiscreteScheduler (diffusers 0.30.3): an Euler step down to sigma_down, then
// fresh noise of scale sigma_up, with sigma_down^2 + sigma_up^2 = sigma_next^2.
#include <cmath>

#include "base/error.h"
#include "sampling/scheduler_registry.h"
#include "sampling/sigma_scheduler.h"
#include "sampling/tensor_loops.h"

namespace ipa::sampling {
namespace {

class EulerAncestralScheduler final : public SigmaScheduler {
 public:
  explicit EulerAncestralScheduler(SchedulerConfig c)
      : SigmaScheduler(SchedulerKind::kEulerAncestral, std::move(c)) {}

  std::string class_name() const override { return "EulerAncestralDiscreteScheduler"; }

  void set_timesteps(int n) override {
    const std::vector<float> timesteps = start_schedule(n);
    store_schedule(timesteps, interpolated_sigmas(timesteps), 0.0f);
  }

  StepOutput step(const Tensor& model_output_in, size_t step_index, const Tensor& sample_in,
                  NoiseSource* noise) override {
    check_step_index(step_index);
    const auto [model_output, sample] =
        detail::as_f32_pair(model_output_in, "model_output", sample_in, "sample");

    const float sigma = sigmas_[step_index];
    const Tensor x0 = predict_original(model_output, sample, sigma);
    const float from = sigma;
    const float to = sigmas_[step_index + 1];
    const float sigma_up = std::sqrt(to * to * (from * from - to * to) / (from * from));
    const float sigma_down = std::sqrt(to * to - sigma_up * sigma_up);
    const float dt = sigma_down - sigma;

    const Tensor z = require_noise(noise, model_output.shape());
    const float* s = detail::cdata(sample);
    const float* p = detail::cdata(x0);
    const float* zp = detail::cdata(z);
    Tensor prev = detail::generate(sample.shape(), [&](int64_t i) {
      const float derivative = (s[i] - p[i]) / sigma;
      const float euler = s[i] + derivative * dt;
      return euler + zp[i] * sigma_up;
    });
    return {prev, x0};
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_euler_ancestral_scheduler(SchedulerConfig config) {
  return std::make_unique<EulerAncestralScheduler>(std::move(config));
}

}  // namespace ipa::sampling
