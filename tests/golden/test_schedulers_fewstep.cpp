// The few-step samplers of the schedulers_fewstep case against diffusers 0.30.3, step by step:
// LCMScheduler, TCDScheduler (each gamma the case has) and the trailing-spaced Euler, Euler a
// and DDIM. Every variant, step count, shape and generator seed comes from the case's JSON.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <string>
#include <vector>

#include "sampling/consistency.h"
#include "sampling/scheduler.h"
#include "sampling/torch_rng.h"
#include "test_support.h"

namespace ipa {
namespace {

using sampling::NoiseSource;
using sampling::TorchGenerator;

constexpr const char* kCase = "schedulers_fewstep";

// The step generator diffusers passed to every step(), recording each draw and the step that
// made it, so the draws themselves (count, order, values) can be checked.
class RecordingGenerator final : public NoiseSource {
 public:
  explicit RecordingGenerator(uint64_t seed) : gen_(seed) {}
  Tensor randn(const Shape& shape) override {
    Tensor n = gen_.randn(shape);
    draws.push_back(n);
    draw_steps.push_back(current_step);
    return n;
  }

  int64_t current_step = -1;
  std::vector<Tensor> draws;
  std::vector<int64_t> draw_steps;

 private:
  TorchGenerator gen_;
};

// "torch.Generator().manual_seed(504)" → 504.
uint64_t generator_seed(const std::string& text) {
  std::smatch m;
  const std::regex re(R"(manual_seed\((\d+)\))");
  if (!std::regex_search(text, m, re)) {
    ADD_FAILURE() << "cannot read the seed of '" << text << "'";
    return 0;
  }
  return std::stoull(m[1].str());
}

nlohmann::json fewstep_case() {
  return sampling::read_config_json_file(
      test::golden_path(std::string(kCase) + "/" + kCase + ".json"));
}

// Every comparison here is exact (bound 0). The samplers repeat diffusers' float32 operations
// in the same order (LCM's c_skip / c_out and TCD's s included, see consistency.cpp), take
// alphas_cumprod / sigmas from the same float32 tables, and draw their noise from the
// PyTorch-identical generator, so there is no rounding difference to allow for; a non-zero
// error would mean a different formula or a different draw.
void expect_same(const Tensor& actual, const Tensor& expected, const std::string& what,
                 double* worst) {
  EXPECT_TRUE(test::AllCloseAbs(actual, expected, 0.0)) << what;
  *worst = std::max(*worst, test::max_rel_error(actual, expected));
}

void check_run(const std::string& key, const nlohmann::json& v, int steps, double* worst) {
  const TensorFile& g = test::load_golden(kCase);
  const std::string prefix = key + "." + std::to_string(steps) + ".";
  auto golden = [&](const std::string& name) { return test::golden_tensor(g, prefix + name); };
  auto has = [&](const std::string& name) { return g.find(prefix + name) != nullptr; };
  const nlohmann::json& run = v.at("runs").at(std::to_string(steps));

  auto sched = sampling::make_scheduler(v.at("class").get<std::string>(), v.at("config"), key);
  const nlohmann::json& kwargs = v.at("step_kwargs");
  if (kwargs.contains("eta")) sched->set_eta(kwargs.at("eta").get<float>());
  sched->set_timesteps(steps);

  // Schedule: timesteps (also as the JSON lists them), sigmas, init_noise_sigma exactly.
  const std::vector<float> want_t = golden("timesteps").to_floats();
  const auto& json_t = run.at("timesteps");
  ASSERT_EQ(sched->timesteps().size(), want_t.size());
  ASSERT_EQ(json_t.size(), want_t.size());
  for (size_t i = 0; i < want_t.size(); ++i) {
    EXPECT_EQ(static_cast<float>(sched->timesteps()[i]), want_t[i]) << "timestep " << i;
    EXPECT_EQ(sched->timesteps()[i], json_t[i].get<double>()) << "timestep " << i;
  }
  if (has("sigmas")) {
    const std::vector<float> want_s = golden("sigmas").to_floats();
    ASSERT_EQ(sched->sigmas().size(), want_s.size());
    for (size_t i = 0; i < want_s.size(); ++i) {
      EXPECT_EQ(sched->sigmas()[i], want_s[i]) << "sigma " << i;
    }
  } else {
    EXPECT_TRUE(sched->sigmas().empty());
  }
  EXPECT_EQ(sched->init_noise_sigma(), golden("init_noise_sigma").item_f32({}));

  // LCM's boundary-condition scalings and TCD's (prev, s) timesteps, where the case has them.
  const size_t n = want_t.size();
  if (has("lcm_c_skip")) {
    const std::vector<float> c_skip = golden("lcm_c_skip").to_floats();
    const std::vector<float> c_out = golden("lcm_c_out").to_floats();
    ASSERT_EQ(c_skip.size(), n);
    for (size_t i = 0; i < n; ++i) {
      const auto c = sampling::lcm_boundary_scalings(static_cast<int64_t>(sched->timesteps()[i]),
                                                     sched->config().timestep_scaling);
      EXPECT_EQ(c.c_skip, c_skip[i]) << "c_skip of step " << i;
      EXPECT_EQ(c.c_out, c_out[i]) << "c_out of step " << i;
    }
  }
  if (has("tcd_timestep_s")) {
    const std::vector<float> prev = golden("tcd_prev_timestep").to_floats();
    const std::vector<float> s = golden("tcd_timestep_s").to_floats();
    ASSERT_EQ(prev.size(), n);
    const float gamma = kwargs.value("eta", 0.3f);
    for (size_t i = 0; i < n; ++i) {
      // The previous timestep is the next one of the schedule, 0 after the last.
      EXPECT_EQ(prev[i], i + 1 < n ? static_cast<float>(sched->timesteps()[i + 1]) : 0.0f);
      EXPECT_EQ(static_cast<float>(sampling::tcd_timestep_s(static_cast<int64_t>(prev[i]), gamma)),
                s[i])
          << "s of step " << i;
    }
  }

  // The steps, feeding our own samples forward as a pipeline does.
  RecordingGenerator gen(generator_seed(run.at("step_generator").get<std::string>()));
  const std::string output_field = run.at("output_field").get<std::string>();
  const Tensor model_outputs = golden("model_output");
  const Tensor prev_samples = golden("prev_sample");
  const Tensor outputs = golden(output_field);
  ASSERT_EQ(static_cast<size_t>(model_outputs.size(0)), n);
  Tensor sample = golden("initial_sample");
  for (size_t i = 0; i < n; ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    const auto idx = static_cast<int64_t>(i);
    const Tensor x_in = sched->scale_model_input(sample, i);
    if (has("scaled_model_input")) {
      expect_same(x_in, golden("scaled_model_input").select(0, idx), "scaled_model_input", worst);
    } else {
      EXPECT_TRUE(test::AllCloseAbs(x_in, sample, 0.0)) << "scale_model_input must be identity";
    }
    gen.current_step = idx;
    const sampling::StepOutput out = sched->step(model_outputs.select(0, idx), i, sample, &gen);
    expect_same(out.prev_sample, prev_samples.select(0, idx), "prev_sample", worst);
    // LCM returns `denoised` and we keep it as pred_original_sample; TCD's pred_noised_sample
    // has its own field.
    const Tensor& ours =
        output_field == "pred_noised_sample" ? out.pred_noised_sample : out.pred_original_sample;
    ASSERT_TRUE(ours.defined()) << output_field;
    expect_same(ours, outputs.select(0, idx), output_field, worst);
    sample = out.prev_sample;
  }

  // The generator: as many draws as diffusers made, at the same steps, the same numbers.
  const auto draws = run.at("rng_draws").get<size_t>();
  ASSERT_EQ(gen.draws.size(), draws);
  const auto& draw_steps = run.at("rng_draw_steps");
  ASSERT_EQ(draw_steps.size(), draws);
  if (draws == 0) return;
  const Tensor noise = golden("noise");
  const std::vector<float> noise_steps = golden("noise_step_index").to_floats();
  ASSERT_EQ(static_cast<size_t>(noise.size(0)), draws);
  ASSERT_EQ(noise_steps.size(), draws);
  for (size_t k = 0; k < draws; ++k) {
    EXPECT_EQ(gen.draw_steps[k], draw_steps[k].get<int64_t>()) << "draw " << k;
    EXPECT_EQ(static_cast<float>(gen.draw_steps[k]), noise_steps[k]) << "draw " << k;
    EXPECT_TRUE(test::AllCloseAbs(gen.draws[k], noise.select(0, static_cast<int64_t>(k)), 0.0))
        << "draw " << k;
  }
}

TEST(GoldenSchedulersFewStep, EveryVariantEveryStep) {
  const auto c = fewstep_case();
  ASSERT_FALSE(c.at("schedulers").empty());
  ASSERT_FALSE(c.at("steps").empty());
  for (const auto& [key, v] : c.at("schedulers").items()) {
    for (const auto& steps_j : c.at("steps")) {
      const int steps = steps_j.get<int>();
      SCOPED_TRACE(key + " with " + std::to_string(steps) + " steps");
      double worst = 0.0;
      check_run(key, v, steps, &worst);
      std::printf("%-42s %2d steps: max rel error %.3g\n", key.c_str(), steps, worst);
    }
  }
}

// The case names the short names' variants by their diffusers class; the short names must give
// the same scheduler on the case's base config (as the engine builds them: `lcm`, `tcd`, or the
// base config's own class with timestep_spacing overridden).
TEST(GoldenSchedulersFewStep, ShortNamesMatchTheCase) {
  const auto c = fewstep_case();
  const nlohmann::json& base = c.at("base_config");
  const std::vector<int> steps = c.at("steps").get<std::vector<int>>();
  for (const auto& [key, v] : c.at("schedulers").items()) {
    SCOPED_TRACE(key);
    const std::string cls = v.at("class").get<std::string>();
    std::unique_ptr<sampling::Scheduler> ours;
    if (cls == "LCMScheduler") {
      ours = sampling::make_scheduler("lcm", base);
    } else if (cls == "TCDScheduler") {
      ours = sampling::make_scheduler("tcd", base);
    } else {
      const nlohmann::json& extra = v.at("config_extra");
      ours = sampling::make_scheduler(cls, base, "base config",
                                      extra.value("timestep_spacing", std::string()));
    }
    auto want = sampling::make_scheduler(cls, v.at("config"), key);
    EXPECT_EQ(ours->class_name(), want->class_name());
    for (int n : steps) {
      ours->set_timesteps(n);
      want->set_timesteps(n);
      EXPECT_EQ(ours->timesteps(), want->timesteps()) << n << " steps";
      EXPECT_EQ(ours->sigmas(), want->sigmas()) << n << " steps";
    }
  }
}

}  // namespace
}  // namespace ipa
