// LMSDiscreteScheduler (diffusers 0.30.3): linear multistep of order up to 4 over the
// derivatives d_i = (x_i - x0_i) / sigma_i, with coefficients integrating the Lagrange basis
// polynomials over [sigma_i, sigma_{i+1}] numerically, as diffusers does with scipy's quad.
#include <cmath>
#include <deque>

#include "base/error.h"
#include "sampling/quadrature.h"
#include "sampling/scheduler_registry.h"
#include "sampling/sigma_scheduler.h"
#include "sampling/tensor_loops.h"

namespace ipa::sampling {
namespace {

constexpr int kMaxOrder = 4;

class LMSScheduler final : public SigmaScheduler {
 public:
  explicit LMSScheduler(SchedulerConfig c) : SigmaScheduler(SchedulerKind::kLMS, std::move(c)) {}

  std::string class_name() const override { return "LMSDiscreteScheduler"; }

  void set_timesteps(int n) override {
    std::vector<float> timesteps = start_schedule(n);
    std::vector<double> sigmas = interpolated_sigmas(timesteps);
    if (config_.use_karras_sigmas) {
      sigmas = karras_schedule(sigmas.back(), sigmas.front(), n, &timesteps);
    }
    store_schedule(timesteps, sigmas, 0.0f);
    derivatives_.clear();
    last_step_.reset();
  }

  // The integral over [sigma_t, sigma_{t+1}] of the Lagrange basis polynomial of node
  // `current` among sigma_t, sigma_{t-1}, ..., sigma_{t-order+1}. The integrand is evaluated
  // like diffusers' torch code: the abscissa rounded to float32, float32 arithmetic.
  double lms_coefficient(int order, size_t t, int current) const {
    auto basis = [&](double tau_d) {
      const auto tau = static_cast<float>(tau_d);
      float prod = 1.0f;
      for (int k = 0; k < order; ++k) {
        if (k == current) continue;
        const float num = tau - sigmas_[t - k];
        const float den = sigmas_[t - current] - sigmas_[t - k];
        prod = prod * (num / den);
      }
      return static_cast<double>(prod);
    };
    return integrate_gk21(basis, sigmas_[t], sigmas_[t + 1], 1.49e-8, 1e-4);
  }

  StepOutput step(const Tensor& model_output_in, size_t step_index, const Tensor& sample_in,
                  NoiseSource* /*noise*/) override {
    check_step_index(step_index);
    check_step_order(step_index);
    const auto [model_output, sample] =
        detail::as_f32_pair(model_output_in, "model_output", sample_in, "sample");

    const float sigma = sigmas_[step_index];
    const Tensor x0 = predict_original(model_output, sample, sigma);
    const float* s = detail::cdata(sample);
    const float* p = detail::cdata(x0);
    derivatives_.push_back(
        detail::generate(sample.shape(), [&](int64_t i) { return (s[i] - p[i]) / sigma; }));
    if (derivatives_.size() > kMaxOrder) derivatives_.pop_front();

    const int order = static_cast<int>(std::min<size_t>(step_index + 1, kMaxOrder));
    // Coefficient c pairs with the c-th newest derivative (zip stops at the shorter list).
    const size_t terms = std::min<size_t>(static_cast<size_t>(order), derivatives_.size());
    std::vector<float> coeffs(terms);
    std::vector<const float*> derivs(terms);
    for (size_t c = 0; c < terms; ++c) {
      coeffs[c] = static_cast<float>(lms_coefficient(order, step_index, static_cast<int>(c)));
      derivs[c] = detail::cdata(derivatives_[derivatives_.size() - 1 - c]);
    }
    Tensor prev = detail::generate(sample.shape(), [&](int64_t i) {
      float acc = 0.0f + coeffs[0] * derivs[0][i];  // Python's sum() starts from 0
      for (size_t c = 1; c < terms; ++c) acc = acc + coeffs[c] * derivs[c][i];
      return s[i] + acc;
    });
    record_step(step_index);
    return {prev, x0};
  }

 private:
  std::deque<Tensor> derivatives_;
};

}  // namespace

std::unique_ptr<Scheduler> make_lms_scheduler(SchedulerConfig config) {
  return std::make_unique<LMSScheduler>(std::move(config));
}

}  // namespace ipa::sampling
