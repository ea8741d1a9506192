// DPMSolverMultistepScheduler (diffusers 0.30.3): DPM-Solver++ (data prediction) or DPM-Solver
// (noise prediction) of order 1-3, multistep, optionally on Karras sigmas, plus the SDE variant
// of DPM-Solver++ ("DPM++ 2M SDE"). "DPM++ 2M" = dpmsolver++, solver_order 2, midpoint.
#include <cmath>
#include <deque>

#include "base/error.h"
#include "sampling/noise_schedule.h"
#include "sampling/scheduler_registry.h"
#include "sampling/tensor_loops.h"
#include "sampling/timestep_spacing.h"

namespace ipa::sampling {
namespace {

// alpha_t, sigma_t and lambda_t = log(alpha_t / sigma_t) of a noise level, in float32 torch ops.
struct NoiseLevel {
  float alpha, sigma, lambda;
  explicit NoiseLevel(float s) {
    alpha = 1.0f / std::sqrt(s * s + 1.0f);
    sigma = s * alpha;
    lambda = std::log(alpha) - std::log(sigma);
  }
};

class DPMSolverMultistepScheduler final : public Scheduler {
 public:
  explicit DPMSolverMultistepScheduler(SchedulerConfig c)
      : Scheduler(SchedulerKind::kDPMSolverMultistep, std::move(c)) {
    const SchedulerConfig& k = config_;
    if (k.thresholding) {
      throw Error("DPMSolverMultistepScheduler: thresholding is not supported", k.source,
                  "thresholding");
    }
    if (k.variance_type && (*k.variance_type == "learned" || *k.variance_type == "learned_range")) {
      throw Error("DPMSolverMultistepScheduler: learned variance outputs are not supported",
                  k.source, "variance_type");
    }
    if (k.use_lu_lambdas) {
      throw Error("DPMSolverMultistepScheduler: use_lu_lambdas is not supported", k.source,
                  "use_lu_lambdas");
    }
    if (k.solver_order < 1 || k.solver_order > 3) {
      throw Error("solver_order must be 1, 2 or 3, got " + std::to_string(k.solver_order), k.source,
                  "solver_order");
    }
    if (k.algorithm_type == "sde-dpmsolver++" && k.solver_order > 2) {
      throw Error("sde-dpmsolver++ supports solver_order 1 or 2", k.source, "solver_order");
    }
    if (k.algorithm_type == "dpmsolver" && k.final_sigmas_type == "zero") {
      throw Error(
          "final_sigmas_type 'zero' is not supported for algorithm_type 'dpmsolver'; "
          "choose 'sigma_min'",
          k.source, "final_sigmas_type");
    }
    const std::vector<float> alphas_cumprod = make_alphas_cumprod(config_, /*zero_snr_floor=*/true);
    train_sigmas_ = train_sigmas(alphas_cumprod);
    log_sigmas_ = log_f32(train_sigmas_);
    train_lambdas_.resize(alphas_cumprod.size());
    for (size_t i = 0; i < alphas_cumprod.size(); ++i) {
      const float a = std::sqrt(alphas_cumprod[i]);
      const float s = std::sqrt(1.0f - alphas_cumprod[i]);
      train_lambdas_[i] = std::log(a) - std::log(s);
    }
  }

  std::string class_name() const override { return "DPMSolverMultistepScheduler"; }

  void set_timesteps(int n) override {
    check_num_steps(n);
    const int num_train = config_.num_train_timesteps;
    // Clip the end of the schedule where lambda_t falls below lambda_min_clipped (searchsorted
    // on the ascending, flipped lambdas counts the entries below the bound).
    int clipped = 0;
    for (float l : train_lambdas_) {
      if (static_cast<double>(l) < config_.lambda_min_clipped) ++clipped;
    }
    const int last_timestep = num_train - clipped;
    std::vector<int64_t> timesteps =
        dpm_timesteps(config_.timestep_spacing, num_train, last_timestep, n, config_.steps_offset);
    std::vector<double> sigmas;
    if (config_.use_karras_sigmas) {
      sigmas = karras_sigmas(train_sigmas_.front(), train_sigmas_.back(), n);
      timesteps.clear();
      for (double s : sigmas) {
        timesteps.push_back(static_cast<int64_t>(numpy_round(sigma_to_t(s, log_sigmas_))));
      }
    } else {
      sigmas = interpolate_sigmas(train_sigmas_, timesteps);
    }
    // "sigma_min" is ((1 - alphas_cumprod[0]) / alphas_cumprod[0]) ** 0.5, train sigma 0.
    const float final_sigma = config_.final_sigmas_type == "zero" ? 0.0f : train_sigmas_.front();
    timesteps_.assign(timesteps.begin(), timesteps.end());
    check_timesteps_in_range();
    sigmas_.clear();
    for (double s : sigmas) sigmas_.push_back(static_cast<float>(s));
    sigmas_.push_back(final_sigma);
    num_inference_steps_ = static_cast<int>(timesteps_.size());
    model_outputs_.clear();
    lower_order_nums_ = 0;
    last_step_.reset();
  }

  StepOutput step(const Tensor& model_output_in, size_t step_index, const Tensor& sample_in,
                  NoiseSource* noise) override {
    check_step_index(step_index);
    check_step_order(step_index);
    const auto [model_output, sample] =
        detail::as_f32_pair(model_output_in, "model_output", sample_in, "sample");

    const size_t n = timesteps_.size();
    const bool small = n < 15;
    const bool lower_order_final =
        step_index == n - 1 && (config_.euler_at_final || (config_.lower_order_final && small) ||
                                config_.final_sigmas_type == "zero");
    const bool lower_order_second = step_index + 2 == n && config_.lower_order_final && small;

    Tensor z;
    if (config_.algorithm_type == "sde-dpmsolver++") z = require_noise(noise, model_output.shape());
    model_outputs_.push_back(convert_model_output(model_output, sample, step_index));
    while (model_outputs_.size() > static_cast<size_t>(config_.solver_order)) {
      model_outputs_.pop_front();
    }

    Tensor prev;
    if (config_.solver_order == 1 || lower_order_nums_ < 1 || lower_order_final) {
      prev = first_order(step_index, sample, z);
    } else if (config_.solver_order == 2 || lower_order_nums_ < 2 || lower_order_second) {
      prev = second_order(step_index, sample, z);
    } else {
      prev = third_order(step_index, sample);
    }
    if (lower_order_nums_ < config_.solver_order) ++lower_order_nums_;
    record_step(step_index);
    return {prev, Tensor()};
  }

  Tensor add_noise(const Tensor& original_in, const Tensor& noise_in,
                   size_t step_index) const override {
    check_step_index(step_index);
    const auto [original, noise] =
        detail::as_f32_pair(original_in, "original sample", noise_in, "noise");
    const NoiseLevel lv(sigmas_[step_index]);
    const float* x = detail::cdata(original);
    const float* zp = detail::cdata(noise);
    return detail::generate(original.shape(),
                            [&](int64_t i) { return lv.alpha * x[i] + lv.sigma * zp[i]; });
  }

 private:
  bool data_prediction() const { return config_.algorithm_type != "dpmsolver"; }

  // DPM-Solver++ works on x0 predictions, DPM-Solver on noise predictions.
  Tensor convert_model_output(const Tensor& m_t, const Tensor& s_t, size_t step_index) const {
    const float* m = detail::cdata(m_t);
    const float* s = detail::cdata(s_t);
    const Shape& shape = s_t.shape();
    const std::string& type = config_.prediction_type;
    const NoiseLevel lv(sigmas_[step_index]);
    if (data_prediction()) {
      if (type == "epsilon") {
        return detail::generate(shape,
                                [&](int64_t i) { return (s[i] - lv.sigma * m[i]) / lv.alpha; });
      }
      if (type == "v_prediction") {
        return detail::generate(shape,
                                [&](int64_t i) { return lv.alpha * s[i] - lv.sigma * m[i]; });
      }
      return m_t.clone();  // sample
    }
    if (type == "epsilon") return m_t.clone();
    if (type == "v_prediction") {
      return detail::generate(shape, [&](int64_t i) { return lv.alpha * m[i] + lv.sigma * s[i]; });
    }
    return detail::generate(shape, [&](int64_t i) { return (s[i] - lv.alpha * m[i]) / lv.sigma; });
  }

  Tensor first_order(size_t i, const Tensor& sample, const Tensor& noise) const {
    const NoiseLevel t(sigmas_[i + 1]), s0(sigmas_[i]);
    const float h = t.lambda - s0.lambda;
    const float* x = detail::cdata(sample);
    const float* m = detail::cdata(model_outputs_.back());
    const Shape& shape = sample.shape();
    if (config_.algorithm_type == "dpmsolver++") {
      const float c_x = t.sigma / s0.sigma;
      const float c_m = t.alpha * (std::exp(-h) - 1.0f);
      return detail::generate(shape, [&](int64_t k) { return c_x * x[k] - c_m * m[k]; });
    }
    if (config_.algorithm_type == "dpmsolver") {
      const float c_x = t.alpha / s0.alpha;
      const float c_m = t.sigma * (std::exp(h) - 1.0f);
      return detail::generate(shape, [&](int64_t k) { return c_x * x[k] - c_m * m[k]; });
    }
    // sde-dpmsolver++
    const float c_x = t.sigma / s0.sigma * std::exp(-h);
    const float c_m = t.alpha * (1.0f - std::exp(-2.0f * h));
    const float c_z = t.sigma * std::sqrt(1.0f - std::exp(-2.0f * h));
    const float* z = detail::cdata(noise);
    return detail::generate(shape, [&](int64_t k) { return c_x * x[k] + c_m * m[k] + c_z * z[k]; });
  }

  Tensor second_order(size_t i, const Tensor& sample, const Tensor& noise) const {
    const NoiseLevel t(sigmas_[i + 1]), s0(sigmas_[i]), s1(sigmas_[i - 1]);
    const float* x = detail::cdata(sample);
    const float* m0 = detail::cdata(model_outputs_[model_outputs_.size() - 1]);
    const float* m1 = detail::cdata(model_outputs_[model_outputs_.size() - 2]);
    const float h = t.lambda - s0.lambda;
    const float h_0 = s0.lambda - s1.lambda;
    const float r0 = h_0 / h;
    const float inv_r0 = 1.0f / r0;
    const bool midpoint = config_.solver_type == "midpoint";
    const Shape& shape = sample.shape();
    // D0 = m0, D1 = (1 / r0) * (m0 - m1)
    auto d1 = [&](int64_t k) { return inv_r0 * (m0[k] - m1[k]); };
    if (config_.algorithm_type == "dpmsolver++") {
      const float c_x = t.sigma / s0.sigma;
      const float c_0 = t.alpha * (std::exp(-h) - 1.0f);
      if (midpoint) {
        const float c_1 = 0.5f * (t.alpha * (std::exp(-h) - 1.0f));
        return detail::generate(shape,
                                [&](int64_t k) { return c_x * x[k] - c_0 * m0[k] - c_1 * d1(k); });
      }
      const float c_1 = t.alpha * ((std::exp(-h) - 1.0f) / h + 1.0f);
      return detail::generate(shape,
                              [&](int64_t k) { return c_x * x[k] - c_0 * m0[k] + c_1 * d1(k); });
    }
    if (config_.algorithm_type == "dpmsolver") {
      const float c_x = t.alpha / s0.alpha;
      const float c_0 = t.sigma * (std::exp(h) - 1.0f);
      if (midpoint) {
        const float c_1 = 0.5f * (t.sigma * (std::exp(h) - 1.0f));
        return detail::generate(shape,
                                [&](int64_t k) { return c_x * x[k] - c_0 * m0[k] - c_1 * d1(k); });
      }
      const float c_1 = t.sigma * ((std::exp(h) - 1.0f) / h - 1.0f);
      return detail::generate(shape,
                              [&](int64_t k) { return c_x * x[k] - c_0 * m0[k] - c_1 * d1(k); });
    }
    // sde-dpmsolver++
    const float* z = detail::cdata(noise);
    const float c_x = t.sigma / s0.sigma * std::exp(-h);
    const float c_0 = t.alpha * (1.0f - std::exp(-2.0f * h));
    const float c_z = t.sigma * std::sqrt(1.0f - std::exp(-2.0f * h));
    if (midpoint) {
      const float c_1 = 0.5f * (t.alpha * (1.0f - std::exp(-2.0f * h)));
      return detail::generate(
          shape, [&](int64_t k) { return c_x * x[k] + c_0 * m0[k] + c_1 * d1(k) + c_z * z[k]; });
    }
    const float c_1 = t.alpha * ((1.0f - std::exp(-2.0f * h)) / (-2.0f * h) + 1.0f);
    return detail::generate(
        shape, [&](int64_t k) { return c_x * x[k] + c_0 * m0[k] + c_1 * d1(k) + c_z * z[k]; });
  }

  Tensor third_order(size_t i, const Tensor& sample) const {
    const NoiseLevel t(sigmas_[i + 1]), s0(sigmas_[i]), s1(sigmas_[i - 1]), s2(sigmas_[i - 2]);
    const float* x = detail::cdata(sample);
    const size_t n = model_outputs_.size();
    const float* m0 = detail::cdata(model_outputs_[n - 1]);
    const float* m1 = detail::cdata(model_outputs_[n - 2]);
    const float* m2 = detail::cdata(model_outputs_[n - 3]);
    const float h = t.lambda - s0.lambda;
    const float h_0 = s0.lambda - s1.lambda;
    const float h_1 = s1.lambda - s2.lambda;
    const float r0 = h_0 / h, r1 = h_1 / h;
    const float inv_r0 = 1.0f / r0, inv_r1 = 1.0f / r1;
    const float w1 = r0 / (r0 + r1);
    const float inv_r01 = 1.0f / (r0 + r1);
    auto derivs = [&](int64_t k, float* d1, float* d2) {
      const float d1_0 = inv_r0 * (m0[k] - m1[k]);
      const float d1_1 = inv_r1 * (m1[k] - m2[k]);
      *d1 = d1_0 + w1 * (d1_0 - d1_1);
      *d2 = inv_r01 * (d1_0 - d1_1);
    };
    const Shape& shape = sample.shape();
    if (config_.algorithm_type == "dpmsolver++") {
      const float c_x = t.sigma / s0.sigma;
      const float c_0 = t.alpha * (std::exp(-h) - 1.0f);
      const float c_1 = t.alpha * ((std::exp(-h) - 1.0f) / h + 1.0f);
      const float c_2 = t.alpha * ((std::exp(-h) - 1.0f + h) / (h * h) - 0.5f);
      return detail::generate(shape, [&](int64_t k) {
        float d1, d2;
        derivs(k, &d1, &d2);
        return c_x * x[k] - c_0 * m0[k] + c_1 * d1 - c_2 * d2;
      });
    }
    const float c_x = t.alpha / s0.alpha;  // dpmsolver
    const float c_0 = t.sigma * (std::exp(h) - 1.0f);
    const float c_1 = t.sigma * ((std::exp(h) - 1.0f) / h - 1.0f);
    const float c_2 = t.sigma * ((std::exp(h) - 1.0f - h) / (h * h) - 0.5f);
    return detail::generate(shape, [&](int64_t k) {
      float d1, d2;
      derivs(k, &d1, &d2);
      return c_x * x[k] - c_0 * m0[k] - c_1 * d1 - c_2 * d2;
    });
  }

  std::vector<float> train_sigmas_;
  std::vector<float> log_sigmas_;
  std::vector<float> train_lambdas_;
  std::deque<Tensor> model_outputs_;  // newest last
  int lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpm_solver_multistep_scheduler(SchedulerConfig config) {
  return std::make_unique<DPMSolverMultistepScheduler>(std::move(config));
}

}  // namespace ipa::sampling
