#include "sampling/sigma_scheduler.h"

#include <algorithm>
#include <cmath>

#include "sampling/noise_schedule.h"
#include "sampling/tensor_loops.h"
#include "sampling/timestep_spacing.h"

namespace ipa::sampling {

SigmaScheduler::SigmaScheduler(SchedulerKind kind, SchedulerConfig config)
    : Scheduler(kind, std::move(config)),
      train_sigmas_(train_sigmas(make_alphas_cumprod(config_, /*zero_snr_floor=*/true))),
      log_sigmas_(log_f32(train_sigmas_)) {}

float SigmaScheduler::init_noise_sigma() const {
  if (sigmas_.empty()) throw Error(class_name() + ": call set_timesteps first");
  const float max_sigma = *std::max_element(sigmas_.begin(), sigmas_.end());
  if (config_.timestep_spacing == "linspace" || config_.timestep_spacing == "trailing") {
    return max_sigma;
  }
  return std::sqrt(max_sigma * max_sigma + 1.0f);
}

Tensor SigmaScheduler::scale_model_input(const Tensor& sample_in, size_t step_index) const {
  check_step_index(step_index);
  const Tensor sample = detail::as_f32(sample_in, "sample");
  const float sigma = sigmas_[step_index];
  const float denom = std::sqrt(sigma * sigma + 1.0f);
  const float* s = detail::cdata(sample);
  return detail::generate(sample.shape(), [&](int64_t i) { return s[i] / denom; });
}

Tensor SigmaScheduler::add_noise(const Tensor& original_in, const Tensor& noise_in,
                                 size_t step_index) const {
  check_step_index(step_index);
  const auto [original, noise] =
      detail::as_f32_pair(original_in, "original sample", noise_in, "noise");
  const float sigma = sigmas_[step_index];
  const float* x = detail::cdata(original);
  const float* z = detail::cdata(noise);
  return detail::generate(original.shape(), [&](int64_t i) { return x[i] + z[i] * sigma; });
}

std::vector<float> SigmaScheduler::start_schedule(int n) {
  check_num_steps(n);
  num_inference_steps_ = n;
  return sigma_scheduler_timesteps(config_.timestep_spacing, config_.num_train_timesteps, n,
                                   config_.steps_offset);
}

std::vector<double> SigmaScheduler::karras_schedule(double sigma_min, double sigma_max, int n,
                                                    std::vector<float>* timesteps) const {
  std::vector<double> sigmas = karras_sigmas(sigma_min, sigma_max, n);
  timesteps->clear();
  for (double s : sigmas) timesteps->push_back(static_cast<float>(sigma_to_t(s, log_sigmas_)));
  return sigmas;
}

void SigmaScheduler::store_schedule(const std::vector<float>& timesteps,
                                    const std::vector<double>& sigmas, float final_sigma) {
  timesteps_.assign(timesteps.begin(), timesteps.end());
  sigmas_.clear();
  for (double s : sigmas) sigmas_.push_back(static_cast<float>(s));
  sigmas_.push_back(final_sigma);
}

Tensor SigmaScheduler::predict_original(const Tensor& model_output, const Tensor& sample,
                                        float sigma) const {
  const float* m = detail::cdata(model_output);
  const float* s = detail::cdata(sample);
  if (config_.prediction_type == "epsilon") {
    return detail::generate(sample.shape(), [&](int64_t i) { return s[i] - sigma * m[i]; });
  }
  if (config_.prediction_type == "v_prediction") {
    const float var_plus_one = sigma * sigma + 1.0f;
    const float c_out = -sigma / std::sqrt(var_plus_one);
    return detail::generate(sample.shape(),
                            [&](int64_t i) { return m[i] * c_out + s[i] / var_plus_one; });
  }
  return model_output;  // "sample"
}

}  // namespace ipa::sampling
