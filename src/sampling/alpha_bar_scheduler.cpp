#include "sampling/alpha_bar_scheduler.h"

#include <cmath>

#include "sampling/noise_schedule.h"
#include "sampling/tensor_loops.h"

namespace ipa::sampling {

AlphaBarScheduler::AlphaBarScheduler(SchedulerKind kind, SchedulerConfig config)
    : Scheduler(kind, std::move(config)),
      alphas_cumprod_(make_alphas_cumprod(config_, /*zero_snr_floor=*/false)),
      final_alpha_cumprod_(config_.set_alpha_to_one ? 1.0f : alphas_cumprod_.front()) {}

Tensor AlphaBarScheduler::add_noise(const Tensor& original_in, const Tensor& noise_in,
                                    size_t step_index) const {
  check_step_index(step_index);
  const auto [original, noise] =
      detail::as_f32_pair(original_in, "original sample", noise_in, "noise");
  const float a = alphas_cumprod_[static_cast<size_t>(timesteps_[step_index])];
  const float sqrt_a = std::sqrt(a);
  const float sqrt_one_minus_a = std::sqrt(1.0f - a);
  const float* x = detail::cdata(original);
  const float* z = detail::cdata(noise);
  return detail::generate(original.shape(),
                          [&](int64_t i) { return sqrt_a * x[i] + sqrt_one_minus_a * z[i]; });
}

AlphaBarScheduler::Prediction AlphaBarScheduler::predict(const Tensor& model_output,
                                                         const Tensor& sample, float a_t,
                                                         bool with_eps) const {
  const float sqrt_a_t = std::sqrt(a_t);
  const float sqrt_b_t = std::sqrt(1.0f - a_t);
  const float* m = detail::cdata(model_output);
  const float* s = detail::cdata(sample);
  Prediction p;
  if (config_.prediction_type == "epsilon") {
    p.x0 = detail::generate(sample.shape(),
                            [&](int64_t i) { return (s[i] - sqrt_b_t * m[i]) / sqrt_a_t; });
    if (with_eps) p.eps = model_output;
  } else if (config_.prediction_type == "sample") {
    p.x0 = model_output;
    if (with_eps) {
      p.eps = detail::generate(sample.shape(),
                               [&](int64_t i) { return (s[i] - sqrt_a_t * m[i]) / sqrt_b_t; });
    }
  } else {  // v_prediction
    p.x0 = detail::generate(sample.shape(),
                            [&](int64_t i) { return sqrt_a_t * s[i] - sqrt_b_t * m[i]; });
    if (with_eps) {
      p.eps = detail::generate(sample.shape(),
                               [&](int64_t i) { return sqrt_a_t * m[i] + sqrt_b_t * s[i]; });
    }
  }
  return p;
}

}  // namespace ipa::sampling
