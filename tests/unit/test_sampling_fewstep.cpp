// The few-step samplers (LCM, TCD, timestep-spacing overrides) where the golden case does not
// reach: other prediction types, clipping, timestep scalings, gammas and schedules, each
// against a plain double-precision loop of the formulas; the rules' float details; diffusers'
// errors; and the request / engine plumbing (sampler names, timestep_spacing, eta).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ipadapter/engine.h"
#include "ipadapter/io.h"
#include "ipadapter/request_json.h"
#include "sampling/consistency.h"
#include "sampling/scheduler.h"
#include "test_support.h"

namespace ipa {
namespace {

using nlohmann::json;
using sampling::make_scheduler;
using sampling::NoiseSource;

// A small linear-beta model whose alphas_cumprod are easy to compute in double.
json small_config(int original_steps) {
  return {{"num_train_timesteps", 100}, {"beta_start", 0.001},
          {"beta_end", 0.05},           {"beta_schedule", "linear"},
          {"set_alpha_to_one", false},  {"original_inference_steps", original_steps}};
}
double alpha_bar(int64_t t) {
  double a = 1.0;
  for (int64_t i = 0; i <= t; ++i) a *= 1.0 - (0.001 + i * (0.05 - 0.001) / 99);
  return a;
}

// SD's schedule (1000 steps); only the timesteps matter where it is used.
json sd_config() {
  return {{"num_train_timesteps", 1000}, {"beta_start", 0.00085},
          {"beta_end", 0.012},           {"beta_schedule", "scaled_linear"},
          {"steps_offset", 1},           {"timestep_spacing", "leading"}};
}

// Hands out the same fixed tensor on every draw and counts the draws.
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

std::vector<double> doubles(const Tensor& t) {
  const std::vector<float> f = t.to_floats();
  return {f.begin(), f.end()};
}

// max |a - e| / max |e|
double rel_diff(const Tensor& actual, const std::vector<double>& expected) {
  const std::vector<float> a = actual.to_floats();
  EXPECT_EQ(a.size(), expected.size());
  double err = 0.0, scale = 1e-30;
  for (size_t i = 0; i < std::min(a.size(), expected.size()); ++i) {
    err = std::max(err, std::abs(a[i] - expected[i]));
    scale = std::max(scale, std::abs(expected[i]));
  }
  return err / scale;
}

// Our samplers compute in float32 like torch; the references below in double. Over four steps
// of these O(1) values the float32 rounding stays near 1e-6 relative (about 6e-8 per operation,
// a few dozen operations, divisions by sqrt(alpha_bar) >= 0.28); 2e-5 leaves room without
// hiding a wrong term, which would be off by far more (the smallest term here, c_skip * x at
// timestep_scaling 0.1, is ~5% of the result).
constexpr double kFormulaTol = 2e-5;

// ---- timesteps --------------------------------------------------------------------------

// The index rule with exact integer arithmetic: origin[k-1, 2k-1, ...] reversed, indices
// floor(i * len / n).
std::vector<double> index_rule(int num_train, int original_steps, int n) {
  const int k = num_train / original_steps;
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    const int index = i * original_steps / n;
    out.push_back((original_steps - index) * k - 1);
  }
  return out;
}

TEST(ConsistencyTimesteps, EvenlyByIndexFromTheDistillationSchedule) {
  for (const char* name : {"lcm", "tcd"}) {
    // For these lengths numpy's float64 indices equal the exact ones for every n.
    for (int original : {50, 25, 8, 100}) {
      json cfg = sd_config();
      cfg["original_inference_steps"] = original;
      auto s = make_scheduler(name, cfg);
      for (int n = 1; n <= original; ++n) {
        s->set_timesteps(n);
        EXPECT_EQ(s->timesteps(), index_rule(1000, original, n))
            << name << ", original " << original << ", " << n << " steps";
      }
    }
  }
  // steps_offset and timestep_spacing play no part; 1000 // 30 = 33 does not reach 999.
  json cfg = sd_config();
  cfg["timestep_spacing"] = "trailing";
  cfg["steps_offset"] = 7;
  cfg["original_inference_steps"] = 30;
  auto lcm = make_scheduler("lcm", cfg);
  lcm->set_timesteps(4);  // indices floor(i * 7.5) = 0, 7, 15, 22 of 989, 956, ...
  EXPECT_EQ(lcm->timesteps(), (std::vector<double>{989, 758, 494, 263}));
  EXPECT_EQ(lcm->init_noise_sigma(), 1.0f);
  EXPECT_TRUE(lcm->sigmas().empty());
}

TEST(ConsistencyTimesteps, NumpyFloatIndicesAndTcdWithoutOriginalSteps) {
  json cfg = sd_config();
  cfg["original_inference_steps"] = nullptr;  // TCD: every training timestep
  auto tcd = make_scheduler("tcd", cfg);
  tcd->set_timesteps(4);
  EXPECT_EQ(tcd->timesteps(), (std::vector<double>{999, 749, 499, 249}));
  // np.linspace(0, 1000, 38, endpoint=False)[19] = 19 * (1000 / 38) = 499.99999999999994 in
  // float64, floored to 499 (exact arithmetic would say 500): timestep 999 - 499.
  tcd->set_timesteps(38);
  EXPECT_EQ(tcd->timesteps()[19], 500);
  EXPECT_NO_THROW(tcd->set_timesteps(1000));
  EXPECT_EQ(tcd->timesteps().back(), 0);
  EXPECT_THROW(tcd->set_timesteps(1001), Error);
  EXPECT_THROW(make_scheduler("lcm", cfg), Error);  // LCM needs an integer
}

TEST(ConsistencyTimesteps, DiffusersErrors) {
  auto lcm = make_scheduler("lcm", sd_config());  // original_inference_steps 50 by default
  EXPECT_NO_THROW(lcm->set_timesteps(50));
  for (int n : {51, 1000}) {
    const std::string msg = test::error_of([&] { lcm->set_timesteps(n); });
    EXPECT_TRUE(test::contains(msg, "original_inference_steps (50)")) << msg;
    EXPECT_TRUE(test::contains(msg, std::to_string(n))) << msg;
  }
  EXPECT_THROW(lcm->set_timesteps(0), Error);
  EXPECT_THROW(lcm->set_timesteps(1001), Error);
  for (int original : {0, 1001}) {
    json cfg = sd_config();
    cfg["original_inference_steps"] = original;
    for (const char* name : {"lcm", "tcd"}) {
      auto s = make_scheduler(name, cfg);
      const std::string msg = test::error_of([&] { s->set_timesteps(1); });
      EXPECT_TRUE(test::contains(msg, "original_inference_steps")) << msg;
    }
  }
  json cfg = sd_config();
  cfg["thresholding"] = true;
  EXPECT_THROW(make_scheduler("lcm", cfg), Error);
  EXPECT_THROW(make_scheduler("tcd", cfg), Error);
  cfg = sd_config();
  cfg["original_inference_steps"] = "fifty";
  EXPECT_TRUE(test::contains(test::error_of([&] { make_scheduler("LCMScheduler", cfg); }),
                             "original_inference_steps"));
}

// ---- LCM --------------------------------------------------------------------------------

struct LcmCase {
  const char* prediction;
  double timestep_scaling;
  bool clip;
};

TEST(LcmStep, MatchesTheFormulasInDouble) {
  const Shape shape{2, 3, 4};
  const Tensor z = test::random_tensor(shape, 11);
  const std::vector<double> zd = doubles(z);
  for (const LcmCase& c : {LcmCase{"epsilon", 10.0, false}, LcmCase{"epsilon", 0.1, false},
                           LcmCase{"v_prediction", 0.1, false}, LcmCase{"sample", 0.1, false},
                           LcmCase{"epsilon", 0.1, true}}) {
    SCOPED_TRACE(std::string(c.prediction) + ", timestep_scaling " +
                 std::to_string(c.timestep_scaling) + (c.clip ? ", clip 0.5" : ""));
    json cfg = small_config(10);
    cfg["prediction_type"] = c.prediction;
    cfg["timestep_scaling"] = c.timestep_scaling;
    cfg["clip_sample"] = c.clip;
    cfg["clip_sample_range"] = 0.5;
    auto lcm = make_scheduler("lcm", cfg);
    lcm->set_timesteps(4);
    ASSERT_EQ(lcm->timesteps(), (std::vector<double>{99, 79, 49, 29}));  // k = 10
    FixedNoise noise(z);

    Tensor x = test::random_tensor(shape, 3);
    std::vector<double> xd = doubles(x);
    const size_t n = lcm->timesteps().size();
    for (size_t i = 0; i < n; ++i) {
      SCOPED_TRACE("step " + std::to_string(i));
      const Tensor m = test::random_tensor(shape, 100 + i);
      const std::vector<double> md = doubles(m);
      const auto t = static_cast<int64_t>(lcm->timesteps()[i]);
      const bool last = i + 1 == n;
      const double a = alpha_bar(t);
      const double a_prev = alpha_bar(last ? t : static_cast<int64_t>(lcm->timesteps()[i + 1]));
      const double st = c.timestep_scaling * static_cast<double>(t);
      const double c_skip = 0.25 / (st * st + 0.25);
      const double c_out = st / std::sqrt(st * st + 0.25);
      std::vector<double> denoised(xd.size()), prev(xd.size());
      for (size_t j = 0; j < xd.size(); ++j) {
        double x0 = std::string(c.prediction) == "epsilon"
                        ? (xd[j] - std::sqrt(1 - a) * md[j]) / std::sqrt(a)
                    : std::string(c.prediction) == "sample"
                        ? md[j]
                        : std::sqrt(a) * xd[j] - std::sqrt(1 - a) * md[j];
        if (c.clip) x0 = std::clamp(x0, -0.5, 0.5);
        denoised[j] = c_out * x0 + c_skip * xd[j];
        prev[j] =
            last ? denoised[j] : std::sqrt(a_prev) * denoised[j] + std::sqrt(1 - a_prev) * zd[j];
      }
      const sampling::StepOutput out = lcm->step(m, i, x, &noise);
      EXPECT_LE(rel_diff(out.pred_original_sample, denoised), kFormulaTol);
      EXPECT_LE(rel_diff(out.prev_sample, prev), kFormulaTol);
      EXPECT_FALSE(out.pred_noised_sample.defined());
      x = out.prev_sample;
      xd = doubles(x);
    }
    EXPECT_EQ(noise.calls, static_cast<int>(n) - 1);  // fresh noise on every step but the last
  }
}

TEST(LcmStep, NoiseOnEveryStepButTheLast) {
  auto lcm = make_scheduler("lcm", small_config(10));
  lcm->set_timesteps(3);
  const Tensor x = test::random_tensor({4}, 1), m = test::random_tensor({4}, 2);
  EXPECT_THROW(lcm->step(m, 0, x, nullptr), Error);
  const sampling::StepOutput out = lcm->step(m, 2, x, nullptr);  // the last step draws none
  EXPECT_TRUE(test::AllCloseAbs(out.prev_sample, out.pred_original_sample, 0.0));
  // One step: denoised at once, no noise at all.
  lcm->set_timesteps(1);
  EXPECT_EQ(lcm->timesteps(), (std::vector<double>{99}));
  EXPECT_NO_THROW(lcm->step(m, 0, x, nullptr));
}

// ---- TCD --------------------------------------------------------------------------------

TEST(TcdStep, MatchesTheFormulasInDouble) {
  const Shape shape{2, 3, 4};
  const Tensor z = test::random_tensor(shape, 12);
  const std::vector<double> zd = doubles(z);
  for (const char* prediction : {"epsilon", "v_prediction", "sample"}) {
    for (float gamma : {0.0f, 0.3f, 0.5f, 1.0f}) {
      SCOPED_TRACE(std::string(prediction) + ", gamma " + std::to_string(gamma));
      json cfg = small_config(10);
      cfg["prediction_type"] = prediction;
      auto tcd = make_scheduler("tcd", cfg);
      tcd->set_eta(gamma);
      tcd->set_timesteps(4);
      FixedNoise noise(z);
      Tensor x = test::random_tensor(shape, 4);
      std::vector<double> xd = doubles(x);
      const size_t n = tcd->timesteps().size();
      for (size_t i = 0; i < n; ++i) {
        SCOPED_TRACE("step " + std::to_string(i));
        const Tensor m = test::random_tensor(shape, 200 + i);
        const std::vector<double> md = doubles(m);
        const auto t = static_cast<int64_t>(tcd->timesteps()[i]);
        const bool last = i + 1 == n;
        const int64_t prev_t = last ? 0 : static_cast<int64_t>(tcd->timesteps()[i + 1]);
        // (1 - gamma) * prev_t is never within float rounding of an integer here.
        const auto s = static_cast<int64_t>(std::floor((1.0 - gamma) * prev_t));
        const double a = alpha_bar(t), a_prev = alpha_bar(prev_t), a_s = alpha_bar(s);
        std::vector<double> x_s(xd.size()), prev(xd.size());
        for (size_t j = 0; j < xd.size(); ++j) {
          double x0 = 0, eps = 0;
          if (std::string(prediction) == "epsilon") {
            x0 = (xd[j] - std::sqrt(1 - a) * md[j]) / std::sqrt(a);
            eps = md[j];
          } else if (std::string(prediction) == "sample") {
            x0 = md[j];
            eps = (xd[j] - std::sqrt(a) * x0) / std::sqrt(1 - a);
          } else {
            x0 = std::sqrt(a) * xd[j] - std::sqrt(1 - a) * md[j];
            eps = std::sqrt(a) * md[j] + std::sqrt(1 - a) * xd[j];
          }
          x_s[j] = std::sqrt(a_s) * x0 + std::sqrt(1 - a_s) * eps;
          prev[j] = gamma > 0 && !last
                        ? std::sqrt(a_prev / a_s) * x_s[j] + std::sqrt(1 - a_prev / a_s) * zd[j]
                        : x_s[j];
        }
        const sampling::StepOutput out = tcd->step(m, i, x, &noise);
        EXPECT_LE(rel_diff(out.pred_noised_sample, x_s), kFormulaTol);
        EXPECT_LE(rel_diff(out.prev_sample, prev), kFormulaTol);
        x = out.prev_sample;
        xd = doubles(x);
      }
      EXPECT_EQ(noise.calls, gamma > 0 ? static_cast<int>(n) - 1 : 0);
    }
  }
}

TEST(TcdStep, GammaIsEtaInZeroToOneDefaulting03) {
  auto tcd = make_scheduler("tcd", small_config(10));
  EXPECT_THROW(tcd->set_eta(1.5f), Error);
  EXPECT_THROW(tcd->set_eta(-0.1f), Error);
  EXPECT_THROW(tcd->set_eta(NAN), Error);
  auto explicit_03 = make_scheduler("tcd", small_config(10));
  explicit_03->set_eta(0.3f);
  tcd->set_timesteps(4);
  explicit_03->set_timesteps(4);
  const Tensor x = test::random_tensor({8}, 1), m = test::random_tensor({8}, 2);
  FixedNoise n1(test::random_tensor({8}, 3)), n2(test::random_tensor({8}, 3));
  EXPECT_TRUE(test::AllCloseAbs(tcd->step(m, 0, x, &n1).prev_sample,
                                explicit_03->step(m, 0, x, &n2).prev_sample, 0.0));
  // gamma 0 is deterministic: no generator needed.
  tcd->set_eta(0.0f);
  EXPECT_NO_THROW(tcd->step(m, 0, x, nullptr));
}

TEST(TcdStep, IntermediateTimestepTakesTheProductInFloat32) {
  // torch computes (1 - eta) * prev_timestep as a float32 tensor: 0.7f * 90 rounds to 63
  // where float64 gives 62.99999999999999; likewise 0.2f * 10 = 2 against 1.9999999999999996.
  EXPECT_EQ(sampling::tcd_timestep_s(90, 0.3f), 63);
  // 1 - eta is Python's double for the eta written as 0.8 (0.19999999999999996, float32 0.2f),
  // not 1 - 0.8f (0.19999999, times 10 below 2).
  EXPECT_EQ(sampling::tcd_timestep_s(10, 0.8f), 2);
  EXPECT_EQ(sampling::tcd_timestep_s(759, 0.3f), 531);
  EXPECT_EQ(sampling::tcd_timestep_s(0, 0.3f), 0);
  EXPECT_EQ(sampling::tcd_timestep_s(999, 1.0f), 0);
  EXPECT_EQ(sampling::tcd_timestep_s(999, 0.0f), 999);
}

TEST(ConsistencyScalings, BoundaryConditionsInFloat32) {
  for (int64_t t : {0, 1, 19, 259, 999}) {
    for (double scaling : {10.0, 1.0, 0.05}) {
      const auto c = sampling::lcm_boundary_scalings(t, scaling);
      const double st = static_cast<double>(t) * scaling;
      // float32: a few roundings of ~6e-8 each (scaling 0.05 is itself rounded).
      EXPECT_NEAR(c.c_skip, 0.25 / (st * st + 0.25), 1e-6 * (0.25 / (st * st + 0.25)));
      EXPECT_NEAR(c.c_out, st / std::sqrt(st * st + 0.25), 1e-6);
    }
  }
  // At t = 0 the consistency function is the identity: c_skip 1, c_out 0.
  EXPECT_EQ(sampling::lcm_boundary_scalings(0, 10.0).c_skip, 1.0f);
  EXPECT_EQ(sampling::lcm_boundary_scalings(0, 10.0).c_out, 0.0f);
}

// ---- zero terminal SNR ----------------------------------------------------------------------

TEST(ZeroSnr, AlphaBarSchedulersKeepTheFinalZero) {
  // diffusers sets alphas_cumprod[-1] = 2^-24 only in its sigma schedulers; DDIM, LCM and TCD
  // keep the rescaled 0, so with v-prediction the first trailing step predicts x0 = -v (the
  // sigma schedulers' 2^-24 is tested in test_sampling.cpp).
  json cfg = sd_config();
  cfg["rescale_betas_zero_snr"] = true;
  cfg["prediction_type"] = "v_prediction";
  cfg["timestep_spacing"] = "trailing";
  const Tensor x = test::random_tensor({6}, 1), v = test::random_tensor({6}, 2);
  const Tensor minus_v = test::tensor([&] {
    FloatArray a = test::float_array(v);
    for (float& e : a.data) e = -e;
    return a;
  }());
  for (const char* name : {"ddim", "tcd"}) {
    SCOPED_TRACE(name);
    auto s = make_scheduler(name, cfg);
    s->set_eta(0.0f);
    s->set_timesteps(4);
    ASSERT_EQ(s->timesteps().front(), 999);
    EXPECT_TRUE(test::AllCloseAbs(s->step(v, 0, x, nullptr).pred_original_sample, minus_v, 0.0));
  }
  auto lcm = make_scheduler("lcm", cfg);
  lcm->set_timesteps(1);
  // c_out(999) is 1 - 1.25e-8 and c_skip 2.5e-9: denoised = -v up to a float32 rounding.
  EXPECT_TRUE(test::AllCloseAbs(lcm->step(v, 0, x, nullptr).pred_original_sample, minus_v, 1e-6));
}

// ---- the sampler names and timestep_spacing ---------------------------------------------

TEST(FewStepNames, SamplersAndSpacings) {
  EXPECT_EQ(parse_sampler("lcm"), Sampler::LCM);
  EXPECT_EQ(parse_sampler("tcd"), Sampler::TCD);
  EXPECT_STREQ(sampler_name(Sampler::LCM), "lcm");
  EXPECT_STREQ(sampler_name(Sampler::TCD), "tcd");
  // Every public sampler name is one make_scheduler knows.
  const auto known = sampling::scheduler_names();
  for (const std::string& name : sampler_names()) {
    if (name == "default") continue;
    EXPECT_NE(std::find(known.begin(), known.end(), name), known.end()) << name;
  }
  EXPECT_EQ(make_scheduler("lcm", sd_config())->class_name(), "LCMScheduler");
  EXPECT_EQ(make_scheduler("TCDScheduler", sd_config())->class_name(), "TCDScheduler");
  json lcm_file = sd_config();
  lcm_file["_class_name"] = "LCMScheduler";  // an LCM model's own scheduler config
  EXPECT_EQ(make_scheduler("default", lcm_file)->kind(), sampling::SchedulerKind::kLCM);

  const std::string msg = test::error_of([&] { make_scheduler("nope", sd_config()); });
  for (const char* name : {"lcm", "tcd", "euler", "ddim"}) {
    EXPECT_TRUE(test::contains(msg, name)) << msg;
  }

  EXPECT_EQ(parse_timestep_spacing("trailing"), TimestepSpacing::Trailing);
  EXPECT_EQ(parse_timestep_spacing("leading"), TimestepSpacing::Leading);
  EXPECT_EQ(parse_timestep_spacing("linspace"), TimestepSpacing::Linspace);
  EXPECT_EQ(parse_timestep_spacing("default"), TimestepSpacing::Default);
  EXPECT_EQ(parse_timestep_spacing("sgm_uniform"), TimestepSpacing::Trailing);
  EXPECT_FALSE(parse_timestep_spacing("karras"));
  for (const std::string& name : timestep_spacing_names()) {
    EXPECT_TRUE(parse_timestep_spacing(name)) << name;
  }
  EXPECT_STREQ(timestep_spacing_name(TimestepSpacing::Trailing), "trailing");
}

TEST(FewStepNames, SpacingOverrideReplacesTheConfigs) {
  // SDXL's file says leading; trailing starts every sampler that honours it at 999.
  for (const char* name : {"ddim", "euler", "euler_a", "lms", "dpmpp_2m", "dpmpp_2m_sde"}) {
    SCOPED_TRACE(name);
    auto leading = make_scheduler(name, sd_config());
    auto trailing = make_scheduler(name, sd_config(), "sd", "trailing");
    leading->set_timesteps(4);
    trailing->set_timesteps(4);
    EXPECT_EQ(trailing->config().timestep_spacing, "trailing");
    EXPECT_EQ(trailing->timesteps(), (std::vector<double>{999, 749, 499, 249}));
    EXPECT_NE(leading->timesteps(), trailing->timesteps());
  }
  // PNDM's PLMS schedule repeats a timestep; it still starts at 999.
  json pndm_cfg = sd_config();
  pndm_cfg["skip_prk_steps"] = true;
  auto pndm = make_scheduler("pndm", pndm_cfg, "sd", "trailing");
  pndm->set_timesteps(4);
  EXPECT_EQ(pndm->timesteps().front(), 999);
  auto lin = make_scheduler("euler", sd_config(), "sd", "linspace");
  lin->set_timesteps(4);
  EXPECT_EQ(lin->timesteps().front(), 999);
  // LCM / TCD would ignore it: refused, naming the key.
  for (const char* name : {"lcm", "tcd", "LCMScheduler"}) {
    const std::string msg =
        test::error_of([&] { make_scheduler(name, sd_config(), "sd", "trailing"); });
    EXPECT_TRUE(test::contains(msg, "timestep_spacing")) << msg;
  }
  EXPECT_THROW(make_scheduler("euler", sd_config(), "sd", "sgm_uniform"),
               Error);  // not a key value
}

TEST(FewStepNames, RequestJsonTimestepSpacingAndEta) {
  const RequestSources sources = file_request_sources(".");
  ParsedRequest p = parse_request_json(R"({"sampler": "lcm", "steps": 4, "cfg": 1})", sources);
  EXPECT_EQ(p.request.sampler, Sampler::LCM);
  EXPECT_EQ(p.request.timestep_spacing, TimestepSpacing::Default);
  EXPECT_FALSE(p.request.eta);  // the sampler's own default
  p = parse_request_json(R"({"sampler": "euler", "timestep_spacing": "sgm_uniform"})", sources);
  EXPECT_EQ(p.request.timestep_spacing, TimestepSpacing::Trailing);
  p = parse_request_json(R"({"sampler": "tcd", "eta": 0.5})", sources);
  ASSERT_TRUE(p.request.eta);
  EXPECT_EQ(*p.request.eta, 0.5f);

  std::string msg =
      test::error_of([&] { parse_request_json(R"({"timestep_spacing": "karras"})", sources); });
  for (const char* name : {"timestep_spacing", "leading", "trailing", "linspace", "sgm_uniform"}) {
    EXPECT_TRUE(test::contains(msg, name)) << msg;
  }
  msg = test::error_of([&] { parse_request_json(R"({"sampler": "nope"})", sources); });
  for (const char* name : {"sampler", "'lcm'", "'tcd'"}) {
    EXPECT_TRUE(test::contains(msg, name)) << msg;
  }
  GenerateRequest r;
  r.eta = -1.0f;
  EXPECT_TRUE(test::contains(test::error_of([&] { r.validate(); }), "eta"));
}

// ---- through the engine (the tiny pipeline_sd15 models) ---------------------------------

EngineOptions tiny_sd15() {
  EngineOptions o;
  o.base = test::golden_path("pipeline_sd15/sd15");
  return o;
}

GenerateRequest few_step_request(Sampler sampler) {
  GenerateRequest r;
  r.prompt = "a cat";
  r.steps = 2;
  r.seed = 3;
  r.cfg = 1.0f;  // guidance off, as distilled models run
  r.sampler = sampler;
  return r;
}

TEST(FewStepEngine, SamplersRunAndOptionsReachTheScheduler) {
  auto engine = Engine::load(tiny_sd15());
  const GenerateResult lcm = engine->generate(few_step_request(Sampler::LCM));
  EXPECT_EQ(lcm.sampler_class, "LCMScheduler");
  EXPECT_FALSE(lcm.final_latents.data.empty());

  // TCD without eta uses gamma 0.3; eta = 0 (diffusers pipelines' default) is another run.
  GenerateRequest tcd = few_step_request(Sampler::TCD);
  const GenerateResult tcd_default = engine->generate(tcd);
  EXPECT_EQ(tcd_default.sampler_class, "TCDScheduler");
  tcd.eta = 0.3f;
  EXPECT_EQ(engine->generate(tcd).final_latents.data, tcd_default.final_latents.data);
  tcd.eta = 0.0f;
  EXPECT_NE(engine->generate(tcd).final_latents.data, tcd_default.final_latents.data);

  // The spacing reaches the scheduler: trailing DDIM is another schedule than the file's.
  GenerateRequest ddim = few_step_request(Sampler::DDIM);
  const GenerateResult file_spacing = engine->generate(ddim);
  ddim.timestep_spacing = TimestepSpacing::Trailing;
  EXPECT_NE(engine->generate(ddim).final_latents.data, file_spacing.final_latents.data);
}

TEST(FewStepEngine, BadCombinationsAreRefusedByCheck) {
  auto engine = Engine::load(tiny_sd15());
  GenerateRequest r = few_step_request(Sampler::LCM);
  r.timestep_spacing = TimestepSpacing::Trailing;
  EXPECT_TRUE(test::contains(test::error_of([&] { engine->check(r); }), "timestep_spacing"));
  r = few_step_request(Sampler::LCM);
  r.steps = 60;
  EXPECT_TRUE(
      test::contains(test::error_of([&] { engine->check(r); }), "original_inference_steps"));
  r = few_step_request(Sampler::TCD);
  r.eta = 1.5f;
  EXPECT_TRUE(test::contains(test::error_of([&] { engine->check(r); }), "gamma"));
}

}  // namespace
}  // namespace ipa
