// PNDMScheduler (diffusers 0.30.3) in its PLMS form (skip_prk_steps, as every Stable Diffusion
// config sets it): a linear multistep method over the last four noise predictions. The
// schedule repeats the second timestep: the first step is re-run as a half step.
#include <cmath>
#include <deque>

#include "base/error.h"
#include "sampling/alpha_bar_scheduler.h"
#include "sampling/scheduler_registry.h"
#include "sampling/tensor_loops.h"
#include "sampling/timestep_spacing.h"

namespace ipa::sampling {
namespace {

class PNDMScheduler final : public AlphaBarScheduler {
 public:
  explicit PNDMScheduler(SchedulerConfig c)
      : AlphaBarScheduler(SchedulerKind::kPNDM, std::move(c)) {
    if (!config_.skip_prk_steps) {
      throw Error(
          "PNDMScheduler with skip_prk_steps = false (Runge-Kutta warm-up steps) is not "
          "supported; Stable Diffusion configs set it to true",
          config_.source, "skip_prk_steps");
    }
    if (config_.prediction_type == "sample") {
      throw Error("PNDMScheduler supports prediction_type epsilon or v_prediction only",
                  config_.source, "prediction_type");
    }
  }

  std::string class_name() const override { return "PNDMScheduler"; }

  void set_timesteps(int n) override {
    check_num_steps(n);
    num_inference_steps_ = n;
    const std::vector<int64_t> base = pndm_base_timesteps(
        config_.timestep_spacing, config_.num_train_timesteps, n, config_.steps_offset);
    // plms = concat(base[:-1], base[-2:-1], base[-1:]) reversed
    std::vector<int64_t> plms(base.begin(), base.end() - 1);
    if (base.size() >= 2) plms.push_back(base[base.size() - 2]);
    plms.push_back(base.back());
    timesteps_.assign(plms.rbegin(), plms.rend());
    check_timesteps_in_range();
    ets_.clear();
    counter_ = 0;
    cur_sample_ = Tensor();
    last_step_.reset();
  }

  StepOutput step(const Tensor& model_output_in, size_t step_index, const Tensor& sample_in,
                  NoiseSource* /*noise*/) override {
    check_step_index(step_index);
    check_step_order(step_index);
    auto [model_output, sample] =
        detail::as_f32_pair(model_output_in, "model_output", sample_in, "sample");

    const int64_t stride = config_.num_train_timesteps / num_inference_steps_;
    auto timestep = static_cast<int64_t>(timesteps_[step_index]);
    int64_t prev_timestep = timestep - stride;
    if (counter_ != 1) {
      while (ets_.size() > 3) ets_.pop_front();
      ets_.push_back(model_output.clone());  // history must not alias caller buffers
    } else {
      prev_timestep = timestep;
      timestep = timestep + stride;
    }

    const Shape& shape = sample.shape();
    Tensor combined;
    const size_t n = ets_.size();
    auto e = [&](size_t back) { return detail::cdata(ets_[n - back]); };  // e(1) = newest
    if (n == 1 && counter_ == 0) {
      combined = model_output;
      cur_sample_ = sample.clone();
    } else if (n == 1 && counter_ == 1) {
      const float* m = detail::cdata(model_output);
      const float* e1 = e(1);
      combined = detail::generate(shape, [&](int64_t i) { return (m[i] + e1[i]) / 2.0f; });
      sample = cur_sample_;
      cur_sample_ = Tensor();
    } else if (n == 2) {
      const float *e1 = e(1), *e2 = e(2);
      combined = detail::generate(shape, [&](int64_t i) { return (3.0f * e1[i] - e2[i]) / 2.0f; });
    } else if (n == 3) {
      const float *e1 = e(1), *e2 = e(2), *e3 = e(3);
      combined = detail::generate(
          shape, [&](int64_t i) { return (23.0f * e1[i] - 16.0f * e2[i] + 5.0f * e3[i]) / 12.0f; });
    } else {
      const float *e1 = e(1), *e2 = e(2), *e3 = e(3), *e4 = e(4);
      const auto one_24th = static_cast<float>(1.0 / 24.0);
      combined = detail::generate(shape, [&](int64_t i) {
        return one_24th * (55.0f * e1[i] - 59.0f * e2[i] + 37.0f * e3[i] - 9.0f * e4[i]);
      });
    }
    Tensor prev = prev_sample(sample, timestep, prev_timestep, combined);
    ++counter_;
    record_step(step_index);
    return {prev, Tensor()};
  }

 private:
  // Formula (9) of the PNDM paper.
  Tensor prev_sample(const Tensor& sample, int64_t timestep, int64_t prev_timestep,
                     const Tensor& model_output) const {
    if (timestep < 0 || timestep >= config_.num_train_timesteps) {
      throw Error("PNDMScheduler: timestep " + std::to_string(timestep) + " out of range");
    }
    const float a_t = alphas_cumprod_[static_cast<size_t>(timestep)];
    const float a_prev = alpha_prod(prev_timestep);
    const float b_t = 1.0f - a_t;
    const float b_prev = 1.0f - a_prev;
    const float* s = detail::cdata(sample);
    Tensor eps = model_output;
    if (config_.prediction_type == "v_prediction") {
      const float* v = detail::cdata(model_output);
      const float sa = std::sqrt(a_t), sb = std::sqrt(b_t);
      eps = detail::generate(sample.shape(), [&](int64_t i) { return sa * v[i] + sb * s[i]; });
    }
    const float sample_coeff = std::sqrt(a_prev / a_t);
    const float denom = a_t * std::sqrt(b_prev) + std::sqrt(a_t * b_t * a_prev);
    const float diff = a_prev - a_t;
    const float* m = detail::cdata(eps);
    return detail::generate(sample.shape(),
                            [&](int64_t i) { return sample_coeff * s[i] - diff * m[i] / denom; });
  }

  std::deque<Tensor> ets_;
  int counter_ = 0;
  Tensor cur_sample_;
};

}  // namespace

std::unique_ptr<Scheduler> make_pndm_scheduler(SchedulerConfig config) {
  return std::make_unique<PNDMScheduler>(std::move(config));
}

}  // namespace ipa::sampling
