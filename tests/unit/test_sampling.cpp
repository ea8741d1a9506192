// Schedulers and the PyTorch-compatible generator: hand-computed expectations for what the
// golden case does not cover (trailing spacing, v-prediction, other options) and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "sampling/guidance.h"
#include "sampling/noise_schedule.h"
#include "sampling/quadrature.h"
#include "sampling/scheduler.h"
#include "sampling/torch_rng.h"
#include "test_support.h"

namespace ipa {
namespace {

using nlohmann::json;
using sampling::make_scheduler;
using sampling::NoiseSource;
using sampling::TorchGenerator;

// A small linear-beta model so the expectations can be computed in double by hand.
json linear_config(int num_train = 100) {
  return {{"num_train_timesteps", num_train}, {"beta_start", 0.001}, {"beta_end", 0.05},
          {"beta_schedule", "linear"},        {"steps_offset", 0},   {"clip_sample", false},
          {"set_alpha_to_one", false}};
}

// alphas_cumprod of linear_config in double.
double alpha_bar(int t, int num_train = 100) {
  double a = 1.0;
  for (int i = 0; i <= t; ++i) a *= 1.0 - (0.001 + i * (0.05 - 0.001) / (num_train - 1));
  return a;
}
double sigma_of(int t) {
  return std::sqrt((1 - alpha_bar(t)) / alpha_bar(t));
}

class FixedNoise final : public NoiseSource {
 public:
  explicit FixedNoise(Tensor t) : t_(std::move(t)) {}
  Tensor randn(const Shape& shape) override {
    EXPECT_EQ(shape, t_.shape());
    ++calls;
    return t_;
  }
  int calls = 0;

 private:
  Tensor t_;
};

// ---- timestep spacing ------------------------------------------------------------------

TEST(SchedulerSpacing, TrailingEndsAtTheLastTrainingStep) {
  json cfg = linear_config(1000);
  cfg["timestep_spacing"] = "trailing";
  auto ddim = make_scheduler("DDIMScheduler", cfg);
  ddim->set_timesteps(10);
  std::vector<double> want;
  for (int i = 0; i < 10; ++i) want.push_back(999 - 100 * i);
  EXPECT_EQ(ddim->timesteps(), want);

  // 1000 / 3 does not divide: arange(1000, 0, -333.33) = 1000, 666.67, 333.33 -> round - 1.
  ddim->set_timesteps(3);
  EXPECT_EQ(ddim->timesteps(), (std::vector<double>{999, 666, 332}));

  auto euler = make_scheduler("EulerDiscreteScheduler", cfg);
  euler->set_timesteps(3);
  EXPECT_EQ(euler->timesteps(), (std::vector<double>{999, 666, 332}));
  // trailing keeps init_noise_sigma = max sigma (no sqrt(sigma^2 + 1))
  EXPECT_EQ(euler->init_noise_sigma(), euler->sigmas().front());

  auto dpm = make_scheduler("DPMSolverMultistepScheduler", cfg);
  dpm->set_timesteps(4);
  EXPECT_EQ(dpm->timesteps(), (std::vector<double>{999, 749, 499, 249}));

  cfg["skip_prk_steps"] = true;
  auto pndm = make_scheduler("PNDMScheduler", cfg);
  pndm->set_timesteps(4);  // base 249, 499, 749, 999 -> PLMS repeats the second
  EXPECT_EQ(pndm->timesteps(), (std::vector<double>{999, 749, 749, 499, 249}));
}

TEST(SchedulerSpacing, LeadingAndLinspace) {
  json cfg = linear_config(1000);
  cfg["steps_offset"] = 1;
  cfg["timestep_spacing"] = "leading";
  auto ddim = make_scheduler("ddim", cfg);
  ddim->set_timesteps(4);
  EXPECT_EQ(ddim->timesteps(), (std::vector<double>{751, 501, 251, 1}));
  auto euler = make_scheduler("euler", cfg);
  euler->set_timesteps(4);
  EXPECT_EQ(euler->timesteps(), (std::vector<double>{751, 501, 251, 1}));
  // leading: init_noise_sigma = sqrt(max_sigma^2 + 1)
  const float s0 = euler->sigmas().front();
  EXPECT_FLOAT_EQ(euler->init_noise_sigma(), std::sqrt(s0 * s0 + 1.0f));

  cfg["timestep_spacing"] = "linspace";
  auto lms = make_scheduler("lms", cfg);
  lms->set_timesteps(4);  // linspace(0, 999, 4) = 0, 333, 666, 999 reversed
  EXPECT_EQ(lms->timesteps(), (std::vector<double>{999, 666, 333, 0}));
  auto dpm = make_scheduler("dpmpp_2m", cfg);
  dpm->set_timesteps(4);  // linspace(0, 999, 5) = 0, 249.75, 499.5, 749.25, 999 -> round
  EXPECT_EQ(dpm->timesteps(), (std::vector<double>{999, 749, 500, 250}));
}

TEST(SchedulerSpacing, NumpyHelpers) {
  EXPECT_EQ(sampling::numpy_linspace(0, 1, 5), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_EQ(sampling::numpy_arange(10, 0, -2.5), (std::vector<double>{10, 7.5, 5, 2.5}));
  EXPECT_EQ(sampling::numpy_round(2.5), 2.0);
  EXPECT_EQ(sampling::numpy_round(3.5), 4.0);
  const std::vector<double> fp = {1, 3, 7};
  EXPECT_DOUBLE_EQ(sampling::numpy_interp_unit_grid(0.5, fp), 2.0);
  EXPECT_DOUBLE_EQ(sampling::numpy_interp_unit_grid(1.25, fp), 4.0);
  EXPECT_DOUBLE_EQ(sampling::numpy_interp_unit_grid(-1, fp), 1.0);
  EXPECT_DOUBLE_EQ(sampling::numpy_interp_unit_grid(9, fp), 7.0);
  // torch.linspace: exact at both ends, evenly spaced in between.
  const auto l = sampling::torch_linspace_f32(0.0, 1.0, 41);
  EXPECT_EQ(l.front(), 0.0f);
  EXPECT_EQ(l.back(), 1.0f);
  for (size_t i = 0; i < l.size(); ++i) EXPECT_NEAR(l[i], i / 40.0, 1e-7);
}

// ---- v-prediction and other formulas by hand ---------------------------------------------

TEST(SchedulerFormulas, DDIMVPrediction) {
  json cfg = linear_config();
  cfg["prediction_type"] = "v_prediction";
  auto ddim = make_scheduler("DDIMScheduler", cfg);
  ddim->set_timesteps(4);  // leading: 75, 50, 25, 0
  ASSERT_EQ(ddim->timesteps(), (std::vector<double>{75, 50, 25, 0}));
  const Tensor x = test::random_tensor({1, 2, 3, 3}, 1);
  const Tensor v = test::random_tensor({1, 2, 3, 3}, 2);
  const std::vector<float> xs = x.to_floats(), vs = v.to_floats();
  for (size_t step : {size_t{0}, size_t{3}}) {
    const int t = static_cast<int>(ddim->timesteps()[step]);
    const int prev_t = t - 25;
    const double a = alpha_bar(t);
    const double a_prev = prev_t >= 0 ? alpha_bar(prev_t) : alpha_bar(0);  // set_alpha_to_one false
    std::vector<float> x0(xs.size()), prev(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) {
      const double pred_x0 = std::sqrt(a) * xs[i] - std::sqrt(1 - a) * vs[i];
      const double pred_eps = std::sqrt(a) * vs[i] + std::sqrt(1 - a) * xs[i];
      x0[i] = static_cast<float>(pred_x0);
      prev[i] = static_cast<float>(std::sqrt(a_prev) * pred_x0 + std::sqrt(1 - a_prev) * pred_eps);
    }
    auto out = ddim->step(v, step, x, nullptr);
    EXPECT_TRUE(
        test::AllCloseRel(out.pred_original_sample, Tensor::from_vector(x.shape(), x0), 1e-5));
    EXPECT_TRUE(test::AllCloseRel(out.prev_sample, Tensor::from_vector(x.shape(), prev), 1e-5));
  }
}

TEST(SchedulerFormulas, DDIMEtaAddsScaledNoise) {
  auto ddim = make_scheduler("ddim", linear_config());
  ddim->set_timesteps(4);
  const Tensor x = test::random_tensor({2, 4}, 3), eps = test::random_tensor({2, 4}, 4);
  const Tensor z = test::random_tensor({2, 4}, 5);
  ddim->set_eta(1.0f);
  FixedNoise noise(z);
  auto out = ddim->step(eps, 1, x, &noise);
  EXPECT_EQ(noise.calls, 1);
  const double a = alpha_bar(50), a_prev = alpha_bar(25);
  const double var = (1 - a_prev) / (1 - a) * (1 - a / a_prev);
  const std::vector<float> xs = x.to_floats(), es = eps.to_floats(), zs = z.to_floats();
  std::vector<float> want(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    const double x0 = (xs[i] - std::sqrt(1 - a) * es[i]) / std::sqrt(a);
    want[i] = static_cast<float>(std::sqrt(a_prev) * x0 + std::sqrt(1 - a_prev - var) * es[i] +
                                 std::sqrt(var) * zs[i]);
  }
  EXPECT_TRUE(test::AllCloseRel(out.prev_sample, Tensor::from_vector(x.shape(), want), 1e-5));
  EXPECT_THROW(ddim->step(eps, 1, x, nullptr), Error);  // eta > 0 needs noise
  EXPECT_THROW(ddim->set_eta(-1.0f), Error);
}

TEST(SchedulerFormulas, EulerVPrediction) {
  json cfg = linear_config();
  cfg["prediction_type"] = "v_prediction";
  auto euler = make_scheduler("EulerDiscreteScheduler", cfg);
  euler->set_timesteps(3);  // linspace(0, 99, 3) reversed: 99, 49.5, 0
  ASSERT_EQ(euler->timesteps(), (std::vector<double>{99, 49.5, 0}));
  const double s_mid = 0.5 * (sigma_of(49) + sigma_of(50));
  const std::vector<double> sig = {sigma_of(99), s_mid, sigma_of(0), 0.0};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(euler->sigmas()[i], sig[i], 1e-5 * sig[0]);

  const Tensor x = test::random_tensor({1, 4, 2, 2}, 6), v = test::random_tensor({1, 4, 2, 2}, 7);
  const std::vector<float> xs = x.to_floats(), vs = v.to_floats();
  const size_t step = 1;
  const double s = sig[step], s_next = sig[step + 1];
  std::vector<float> x_in(xs.size()), prev(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    x_in[i] = static_cast<float>(xs[i] / std::sqrt(s * s + 1));
    const double x0 = vs[i] * (-s / std::sqrt(s * s + 1)) + xs[i] / (s * s + 1);
    prev[i] = static_cast<float>(xs[i] + (xs[i] - x0) / s * (s_next - s));
  }
  EXPECT_TRUE(test::AllCloseRel(euler->scale_model_input(x, step),
                                Tensor::from_vector(x.shape(), x_in), 1e-5));
  auto out = euler->step(v, step, x, nullptr);
  EXPECT_TRUE(test::AllCloseRel(out.prev_sample, Tensor::from_vector(x.shape(), prev), 1e-5));
}

TEST(SchedulerFormulas, EulerAncestralSplitsTheStep) {
  auto sched = make_scheduler("euler_a", linear_config());
  sched->set_timesteps(5);
  const Tensor x = test::random_tensor({3, 5}, 8), eps = test::random_tensor({3, 5}, 9);
  const Tensor z = test::random_tensor({3, 5}, 10);
  FixedNoise noise(z);
  const size_t step = 2;
  const double s = sched->sigmas()[step], s_to = sched->sigmas()[step + 1];
  const double up = std::sqrt(s_to * s_to * (s * s - s_to * s_to) / (s * s));
  const double down = std::sqrt(s_to * s_to - up * up);
  const std::vector<float> xs = x.to_floats(), es = eps.to_floats(), zs = z.to_floats();
  std::vector<float> want(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    want[i] = static_cast<float>(xs[i] + es[i] * (down - s) + zs[i] * up);  // (x - x0)/s = eps
  }
  auto out = sched->step(eps, step, x, &noise);
  EXPECT_TRUE(test::AllCloseRel(out.prev_sample, Tensor::from_vector(x.shape(), want), 1e-5));
  EXPECT_THROW(sched->step(eps, step, x, nullptr), Error);  // ancestral sampling needs noise
}

TEST(SchedulerFormulas, DpmSolverFirstOrderIsDdim) {
  // DPM-Solver++ of order 1 equals DDIM (eta 0) between the same two noise levels.
  json cfg = linear_config();
  cfg["solver_order"] = 1;
  cfg["final_sigmas_type"] = "sigma_min";
  auto dpm = make_scheduler("DPMSolverMultistepScheduler", cfg);
  dpm->set_timesteps(4);
  const Tensor x = test::random_tensor({2, 3}, 11), eps = test::random_tensor({2, 3}, 12);
  const size_t step = 1;
  const double s = dpm->sigmas()[step], s_next = dpm->sigmas()[step + 1];
  const double a = 1 / (s * s + 1), a_next = 1 / (s_next * s_next + 1);  // alpha_bar
  const std::vector<float> xs = x.to_floats(), es = eps.to_floats();
  std::vector<float> want(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    const double x_vp = xs[i];  // DPM-Solver works on the unscaled (VP) sample
    const double x0 = (x_vp - std::sqrt(1 - a) * es[i]) / std::sqrt(a);
    want[i] = static_cast<float>(std::sqrt(a_next) * x0 + std::sqrt(1 - a_next) * es[i]);
  }
  dpm->step(eps, 0, x, nullptr);
  auto out = dpm->step(eps, step, x, nullptr);
  EXPECT_TRUE(test::AllCloseRel(out.prev_sample, Tensor::from_vector(x.shape(), want), 1e-5));
}

TEST(SchedulerFormulas, DpmSolverSdeFirstStep) {
  auto sde = make_scheduler("dpmpp_2m_sde", linear_config());
  sde->set_timesteps(5);
  const Tensor x = test::random_tensor({6}, 15), eps = test::random_tensor({6}, 16);
  const Tensor z = test::random_tensor({6}, 17);
  FixedNoise noise(z);
  // VP form: alpha = 1 / sqrt(sigma^2 + 1), sigma_vp = sigma * alpha, lambda = log(alpha /
  // sigma_vp).
  auto vp = [](double s, double* alpha, double* sig, double* lambda) {
    *alpha = 1 / std::sqrt(s * s + 1);
    *sig = s * *alpha;
    *lambda = std::log(*alpha / *sig);
  };
  double a_s, s_s, l_s, a_t, s_t, l_t;
  vp(sde->sigmas()[0], &a_s, &s_s, &l_s);
  vp(sde->sigmas()[1], &a_t, &s_t, &l_t);
  const double h = l_t - l_s;
  const std::vector<float> xs = x.to_floats(), es = eps.to_floats(), zs = z.to_floats();
  std::vector<float> want(6);
  for (size_t i = 0; i < 6; ++i) {
    const double x0 = (xs[i] - s_s * es[i]) / a_s;
    want[i] =
        static_cast<float>(s_t / s_s * std::exp(-h) * xs[i] + a_t * (1 - std::exp(-2 * h)) * x0 +
                           s_t * std::sqrt(1 - std::exp(-2 * h)) * zs[i]);
  }
  auto out = sde->step(eps, 0, x, &noise);
  EXPECT_TRUE(test::AllCloseRel(out.prev_sample, Tensor::from_vector({6}, want), 1e-5));
}

TEST(SchedulerFormulas, AddNoise) {
  const Tensor x = test::random_tensor({2, 2}, 13), z = test::random_tensor({2, 2}, 14);
  const std::vector<float> xs = x.to_floats(), zs = z.to_floats();
  auto ddim = make_scheduler("ddim", linear_config());
  ddim->set_timesteps(4);
  const double a = alpha_bar(50);
  std::vector<float> want(4);
  for (size_t i = 0; i < 4; ++i) {
    want[i] = static_cast<float>(std::sqrt(a) * xs[i] + std::sqrt(1 - a) * zs[i]);
  }
  EXPECT_TRUE(test::AllCloseRel(ddim->add_noise(x, z, 1), Tensor::from_vector({2, 2}, want), 1e-6));

  auto euler = make_scheduler("euler", linear_config());
  euler->set_timesteps(4);
  const float s = euler->sigmas()[2];
  for (size_t i = 0; i < 4; ++i) want[i] = xs[i] + zs[i] * s;
  EXPECT_TRUE(
      test::AllCloseRel(euler->add_noise(x, z, 2), Tensor::from_vector({2, 2}, want), 1e-7));
  EXPECT_THROW(euler->add_noise(x, test::random_tensor({4}, 1), 0), Error);
}

TEST(SchedulerFormulas, StrengthPicksTheFirstStep) {
  auto sched = make_scheduler("ddim", linear_config());
  sched->set_timesteps(50);
  EXPECT_EQ(sched->first_step_for_strength(0.75), 13u);  // int(50 * 0.75) = 37 steps remain
  EXPECT_EQ(sched->first_step_for_strength(1.0), 0u);
  EXPECT_EQ(sched->first_step_for_strength(0.0), 50u);
  EXPECT_THROW(sched->first_step_for_strength(1.5), Error);
}

TEST(SchedulerFormulas, NoiseSchedules) {
  // squaredcos_cap_v2: beta_i = 1 - abar((i+1)/N) / abar(i/N), capped at 0.999.
  sampling::SchedulerConfig c;
  c.num_train_timesteps = 50;
  c.beta_schedule = "squaredcos_cap_v2";
  const auto betas = sampling::make_betas(c);
  ASSERT_EQ(betas.size(), 50u);
  auto abar = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
  for (int i = 0; i < 50; ++i) {
    const double want = std::min(1 - abar((i + 1) / 50.0) / abar(i / 50.0), 0.999);
    EXPECT_NEAR(betas[i], want, 1e-7 * std::max(1.0, want)) << i;
  }
  // rescale_betas_zero_snr: the last alpha_bar becomes 2^-24, so sigma_max = sqrt(2^24 - 1).
  json cfg = linear_config(1000);
  cfg["rescale_betas_zero_snr"] = true;
  cfg["timestep_spacing"] = "trailing";
  auto euler = make_scheduler("euler", cfg);
  euler->set_timesteps(10);
  EXPECT_NEAR(euler->sigmas().front(), 4096.0, 0.01);
  // Karras sigmas run from sigma_max to sigma_min.
  const auto k = sampling::karras_sigmas(0.1, 10.0, 5);
  EXPECT_DOUBLE_EQ(k.front(), 10.0);
  EXPECT_NEAR(k.back(), 0.1, 1e-12);
  for (size_t i = 1; i < k.size(); ++i) EXPECT_LT(k[i], k[i - 1]);
}

TEST(SchedulerFormulas, KarrasVariantsUseKarrasSigmas) {
  const json cfg = linear_config(1000);
  auto plain = make_scheduler("dpmpp_2m", cfg);
  auto karras = make_scheduler("dpmpp_2m_karras", cfg);
  plain->set_timesteps(10);
  karras->set_timesteps(10);
  EXPECT_EQ(plain->sigmas().front(), karras->sigmas().front());  // both start at sigma_max
  const auto k = sampling::karras_sigmas(karras->sigmas()[9], karras->sigmas()[0], 10);
  for (size_t i = 0; i < 10; ++i) EXPECT_NEAR(karras->sigmas()[i], k[i], 1e-6 * k[0]);
  EXPECT_NE(plain->sigmas()[5], karras->sigmas()[5]);
  auto euler_k = make_scheduler("euler_karras", cfg);
  euler_k->set_timesteps(10);
  for (size_t i = 1; i < 10; ++i) EXPECT_LT(euler_k->timesteps()[i], euler_k->timesteps()[i - 1]);
}

TEST(SchedulerFormulas, LmsCoefficientsSumToTheStep) {
  // The Lagrange basis sums to one, so the coefficients sum to sigma_{i+1} - sigma_i: with all
  // derivatives equal to d, LMS moves x by d * (sigma_{i+1} - sigma_i) at every order.
  auto lms = make_scheduler("lms", linear_config());
  lms->set_timesteps(6);
  Tensor x = Tensor::full({4}, 1.0f);
  for (size_t i = 0; i < 6; ++i) {
    // epsilon = 0.5 gives derivative (x - (x - sigma * 0.5)) / sigma = 0.5
    const Tensor eps = Tensor::full({4}, 0.5f);
    const float expected = x.to_floats()[0] + 0.5f * (lms->sigmas()[i + 1] - lms->sigmas()[i]);
    x = lms->step(eps, i, x, nullptr).prev_sample;
    EXPECT_NEAR(x.to_floats()[0], expected, 1e-5 * lms->sigmas()[0]) << "step " << i;
  }
}

TEST(Quadrature, PolynomialsExactAndAdaptiveFallback) {
  const double cubic = sampling::integrate_gk21([](double t) { return t * t * t - 2 * t; }, 0, 2);
  EXPECT_NEAR(cubic, 0.0, 1e-14);  // 16/4 - 4
  // Reversed limits give the negative.
  EXPECT_NEAR(sampling::integrate_gk21([](double t) { return t * t; }, 3, 0), -9.0, 1e-13);
  // sqrt has an endpoint singularity in its derivative: one rule is not enough.
  const double s =
      sampling::integrate_gk21([](double t) { return std::sqrt(t); }, 0, 1, 1e-12, 1e-12);
  EXPECT_NEAR(s, 2.0 / 3.0, 1e-10);
}

// ---- history and bad input ---------------------------------------------------------------

TEST(SchedulerErrors, MultistepSchedulersNeedConsecutiveSteps) {
  const Tensor x = test::random_tensor({4}, 1), eps = test::random_tensor({4}, 2);
  for (const char* name : {"dpmpp_2m", "lms", "pndm"}) {
    SCOPED_TRACE(name);
    json cfg = linear_config();
    cfg["skip_prk_steps"] = true;
    auto sched = make_scheduler(name, cfg);
    sched->set_timesteps(5);
    sched->step(eps, 1, x, nullptr);  // starting late is fine (img2img)
    EXPECT_THROW(sched->step(eps, 3, x, nullptr), Error);
    sched->set_timesteps(5);  // starts over
    EXPECT_NO_THROW(sched->step(eps, 0, x, nullptr));
    // A failed step leaves the history alone.
    EXPECT_THROW(sched->step(test::random_tensor({3}, 1), 1, x, nullptr), Error);
    EXPECT_NO_THROW(sched->step(eps, 1, x, nullptr));
  }
  auto sde = make_scheduler("dpmpp_2m_sde", linear_config());
  sde->set_timesteps(5);
  EXPECT_THROW(sde->step(eps, 0, x, nullptr), Error);  // needs noise
  FixedNoise noise(test::random_tensor({4}, 3));
  EXPECT_NO_THROW(sde->step(eps, 0, x, &noise));
  EXPECT_NO_THROW(sde->step(eps, 1, x, &noise));
}

TEST(SchedulerErrors, InvalidConfigValues) {
  json cfg = linear_config();
  cfg["beta_schedule"] = "cosine";
  EXPECT_THROW(make_scheduler("ddim", cfg), Error);
  cfg = linear_config();
  cfg["prediction_type"] = "flow";
  EXPECT_THROW(make_scheduler("euler", cfg), Error);
  cfg = linear_config();
  cfg["timestep_spacing"] = "random";
  EXPECT_THROW(make_scheduler("lms", cfg), Error);
  cfg = linear_config();
  cfg["beta_start"] = "small";
  EXPECT_THROW(make_scheduler("ddim", cfg), Error);
  cfg = linear_config();
  cfg["steps_offset"] = 0.5;
  EXPECT_THROW(make_scheduler("ddim", cfg), Error);
  cfg = linear_config();
  cfg["beta_end"] = 1.5;  // betas must stay below one
  EXPECT_THROW(make_scheduler("ddim", cfg), Error);
  cfg = linear_config();
  cfg["trained_betas"] = {0.1, 0.2};  // wrong length
  EXPECT_THROW(make_scheduler("ddim", cfg), Error);
  cfg = linear_config();
  cfg["solver_order"] = 4;
  EXPECT_THROW(make_scheduler("DPMSolverMultistepScheduler", cfg), Error);
  cfg = linear_config();
  cfg["algorithm_type"] = "unipc";
  EXPECT_THROW(make_scheduler("DPMSolverMultistepScheduler", cfg), Error);
  cfg = linear_config();
  cfg["skip_prk_steps"] = false;
  EXPECT_THROW(make_scheduler("pndm", cfg), Error);
  EXPECT_THROW(make_scheduler("heun", linear_config()), Error);
  EXPECT_THROW(make_scheduler("ddim", json::array()), Error);
  EXPECT_THROW(make_scheduler("", linear_config()), Error);  // no _class_name to fall back on
  EXPECT_THROW(sampling::make_scheduler_from_file("ddim", "/nonexistent/scheduler.json"), Error);
  // The error names the key.
  try {
    cfg = linear_config();
    cfg["beta_schedule"] = "cosine";
    make_scheduler("ddim", cfg, "my_config.json");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("beta_schedule"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("my_config.json"), std::string::npos) << e.what();
  }
}

TEST(SchedulerErrors, InvalidStepCountsAndInputs) {
  for (const std::string& name : sampling::scheduler_names()) {
    SCOPED_TRACE(name);
    json cfg = linear_config();
    cfg["skip_prk_steps"] = true;
    cfg["original_inference_steps"] = 100;  // LCM / TCD: up to 100 steps
    auto sched = make_scheduler(name, cfg);
    const Tensor x = test::random_tensor({4}, 1);
    EXPECT_THROW(sched->step(x, 0, x, nullptr), Error);  // set_timesteps not called yet
    EXPECT_THROW(sched->set_timesteps(0), Error);
    EXPECT_THROW(sched->set_timesteps(101), Error);  // more than num_train_timesteps
    EXPECT_NO_THROW(sched->set_timesteps(100));
    sched->set_timesteps(5);
    EXPECT_THROW(sched->step(x, sched->timesteps().size(), x, nullptr), Error);
    EXPECT_THROW(sched->step(test::random_tensor({5}, 1), 0, x, nullptr), Error);  // shapes
    const Tensor ints = Tensor::zeros({4}, DType::I64);
    EXPECT_THROW(sched->step(ints, 0, x, nullptr), Error);
  }
}

TEST(SchedulerConfigJson, PythonNonFiniteTokens) {
  const json j = sampling::parse_config_json(
      R"({"lambda_min_clipped": -Infinity, "a": NaN, "b": Infinity, "s": "-Infinity NaN"})",
      "test");
  EXPECT_EQ(j.at("lambda_min_clipped"), "-Infinity");
  EXPECT_EQ(j.at("a"), "NaN");
  EXPECT_EQ(j.at("s"), "-Infinity NaN");
  EXPECT_THROW(sampling::parse_config_json("{\"a\": }", "test"), Error);
  // The DPM reader takes the string form as a number.
  json cfg = linear_config();
  cfg["lambda_min_clipped"] = "-Infinity";
  auto dpm = make_scheduler("DPMSolverMultistepScheduler", cfg);
  dpm->set_timesteps(5);
  EXPECT_EQ(dpm->timesteps().front(), 99);
  // A finite clip shortens the schedule: lambda_t is below -1 for the last training steps.
  cfg["lambda_min_clipped"] = -1.0;
  auto clipped = make_scheduler("DPMSolverMultistepScheduler", cfg);
  clipped->set_timesteps(5);
  EXPECT_LT(clipped->timesteps().front(), 99);
}

TEST(SchedulerFactory, DefaultUsesTheConfigClass) {
  json cfg = linear_config();
  cfg["_class_name"] = "EulerAncestralDiscreteScheduler";
  auto sched = make_scheduler("", cfg);
  EXPECT_EQ(sched->class_name(), "EulerAncestralDiscreteScheduler");
  EXPECT_EQ(make_scheduler("default", cfg)->kind(), sampling::SchedulerKind::kEulerAncestral);
  // Keys of other schedulers are ignored (like diffusers' from_config).
  cfg["solver_order"] = "not a number";
  EXPECT_NO_THROW(make_scheduler("ddim", cfg));
  // diffusers' scheduler defaults differ per class.
  json bare = {{"num_train_timesteps", 1000}};
  EXPECT_TRUE(make_scheduler("ddim", bare)->config().clip_sample);
  EXPECT_EQ(make_scheduler("ddim", bare)->config().timestep_spacing, "leading");
  EXPECT_EQ(make_scheduler("euler", bare)->config().timestep_spacing, "linspace");
}

// ---- classifier-free guidance --------------------------------------------------------------

TEST(Guidance, BatchedHalvesAndRescale) {
  const Tensor batch = test::random_tensor({4, 3, 2, 2}, 21);  // [uncond x2, cond x2]
  const Tensor guided = sampling::classifier_free_guidance(batch, 7.5f);
  ASSERT_EQ(guided.shape(), (Shape{2, 3, 2, 2}));
  const std::vector<float> all = batch.to_floats(), g = guided.to_floats();
  const size_t half = g.size();
  for (size_t i = 0; i < half; ++i) {
    EXPECT_NEAR(g[i], all[i] + 7.5 * (all[half + i] - all[i]), 1e-5) << i;
  }
  EXPECT_THROW(sampling::classifier_free_guidance(test::random_tensor({3, 2}, 1), 5.0f), Error);

  const Tensor cond = batch.narrow(0, 2, 2).contiguous();
  EXPECT_TRUE(test::AllCloseAbs(sampling::rescale_guidance(guided, cond, 0.0f), guided, 0.0));
  // Fully rescaled: every sample gets the conditional prediction's standard deviation.
  const Tensor full = sampling::rescale_guidance(guided, cond, 1.0f);
  auto stdev = [](const std::vector<float>& v, size_t begin, size_t n) {
    double mean = 0, m2 = 0;
    for (size_t i = begin; i < begin + n; ++i) mean += v[i];
    mean /= n;
    for (size_t i = begin; i < begin + n; ++i) m2 += (v[i] - mean) * (v[i] - mean);
    return std::sqrt(m2 / (n - 1));
  };
  const std::vector<float> f = full.to_floats(), c = cond.to_floats();
  for (size_t b = 0; b < 2; ++b) {
    EXPECT_NEAR(stdev(f, b * 12, 12), stdev(c, b * 12, 12), 1e-5) << b;
  }
  EXPECT_THROW(sampling::rescale_guidance(guided, cond, 1.5f), Error);
}

// ---- generator semantics beyond the golden case -------------------------------------------

TEST(TorchGenerator, ScalarPathCachesTheSecondNormal) {
  // Below 16 elements each value is a double Box-Muller draw whose sine half is cached:
  // randn(2) equals two randn(1) calls.
  TorchGenerator a(7), b(7);
  const std::vector<float> two = a.randn({2}).to_floats();
  const float first = b.randn({1}).to_floats()[0];
  const float second = b.randn({1}).to_floats()[0];
  EXPECT_EQ(two[0], first);
  EXPECT_EQ(two[1], second);
  // manual_seed drops the cached value.
  b.manual_seed(7);
  EXPECT_EQ(b.randn({1}).to_floats()[0], first);
  b.manual_seed(7);
  EXPECT_EQ(b.randn({1}).to_floats()[0], first);
}

TEST(TorchGenerator, MomentsAndSeedTruncation) {
  TorchGenerator g(123);
  const std::vector<float> v = g.randn({4, 64, 64}).to_floats();
  double mean = 0, var = 0;
  for (float x : v) mean += x;
  mean /= v.size();
  for (float x : v) var += (x - mean) * (x - mean);
  var /= v.size();
  EXPECT_NEAR(mean, 0.0, 0.03);
  EXPECT_NEAR(var, 1.0, 0.05);
  // Like PyTorch's mt19937, only the low 32 bits of the seed matter.
  TorchGenerator lo(5), hi((uint64_t{1} << 32) | 5);
  EXPECT_EQ(lo.random32(), hi.random32());
  const std::vector<float> u = TorchGenerator(3).rand({1000}).to_floats();
  for (float x : u) {
    EXPECT_GE(x, 0.0f);
    EXPECT_LT(x, 1.0f);
  }
}

}  // namespace
}  // namespace ipa
