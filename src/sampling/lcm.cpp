// LCMScheduler (diffusers 0.30.3), the multistep sampler of latent consistency models: each
// step maps x_t to the model's consistency estimate `denoised` (x_0 with the boundary-condition
// scalings c_skip, c_out) and, except on the last step, renoises it to the next timestep with
// fresh noise.
#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "sampling/alpha_bar_scheduler.h"
#include "sampling/consistency.h"
#include "sampling/scheduler_registry.h"
#include "sampling/tensor_loops.h"

namespace ipa::sampling {
namespace {

class LCMScheduler final : public AlphaBarScheduler {
 public:
  explicit LCMScheduler(SchedulerConfig c) : AlphaBarScheduler(SchedulerKind::kLCM, std::move(c)) {
    if (config_.thresholding) {
      throw Error("LCMScheduler: thresholding (dynamic thresholding) is not supported",
                  config_.source, "thresholding");
    }
    if (!config_.original_inference_steps) {
      throw Error("LCMScheduler needs original_inference_steps (an integer, default 50)",
                  config_.source);
    }
  }

  std::string class_name() const override { return "LCMScheduler"; }

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
    // The last step renoises nothing; diffusers then uses t itself as the previous timestep.
    const int64_t prev_t = last ? t : static_cast<int64_t>(timesteps_[step_index + 1]);
    const float a_t = alphas_cumprod_[static_cast<size_t>(t)];
    const float a_prev = alpha_prod(prev_t);
    const BoundaryScalings c = lcm_boundary_scalings(t, config_.timestep_scaling);
    const Tensor x0 = predict(model_output, sample, a_t, /*with_eps=*/false).x0;
    const float* s = detail::cdata(sample);
    const float* p = detail::cdata(x0);
    const auto range = static_cast<float>(config_.clip_sample_range);
    Tensor denoised = detail::generate(sample.shape(), [&](int64_t i) {
      const float x = config_.clip_sample ? std::clamp(p[i], -range, range) : p[i];
      return c.c_out * x + c.c_skip * s[i];
    });
    if (last) return {denoised, denoised, {}};

    const Tensor z = require_noise(noise, model_output.shape());
    const float sqrt_a_prev = std::sqrt(a_prev);
    const float sqrt_b_prev = std::sqrt(1.0f - a_prev);
    const float* d = detail::cdata(denoised);
    const float* zp = detail::cdata(z);
    Tensor prev = detail::generate(
        sample.shape(), [&](int64_t i) { return sqrt_a_prev * d[i] + sqrt_b_prev * zp[i]; });
    return {prev, denoised, {}};
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_lcm_scheduler(SchedulerConfig config) {
  return std::make_unique<LCMScheduler>(std::move(config));
}

}  // namespace ipa::sampling
