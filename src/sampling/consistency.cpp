#include "sampling/consistency.h"

#include <charconv>
#include <cmath>

#include "base/error.h"

namespace ipa::sampling {

std::vector<int64_t> consistency_timesteps(int num_train, std::optional<int> original_steps, int n,
                                           const std::string& source) {
  if (n < 1 || n > num_train) {
    throw Error("number of inference steps must be between 1 and num_train_timesteps (" +
                    std::to_string(num_train) + "), got " + std::to_string(n),
                source);
  }
  std::vector<int64_t> origin;  // ascending
  if (original_steps) {
    const int orig = *original_steps;
    if (orig < 1 || orig > num_train) {
      throw Error("original_inference_steps must be between 1 and num_train_timesteps (" +
                      std::to_string(num_train) + "), got " + std::to_string(orig),
                  source);
    }
    // diffusers raises this one as "original_steps x strength is smaller than
    // num_inference_steps" (strength 1 here).
    if (n > orig) {
      throw Error("number of inference steps (" + std::to_string(n) +
                      ") cannot be larger than original_inference_steps (" + std::to_string(orig) +
                      "): the schedule is a subset of the " + std::to_string(orig) +
                      "-step distillation schedule",
                  source);
    }
    const int64_t k = num_train / orig;  // the skipping step of the LCM paper
    for (int64_t i = 1; i <= orig; ++i) origin.push_back(i * k - 1);
  } else {
    for (int64_t i = 0; i < num_train; ++i) origin.push_back(i);
  }
  // np.linspace(0, len, n, endpoint=False) is i * (len / n) in float64, then floored.
  const double len = static_cast<double>(origin.size());
  const double step = len / static_cast<double>(n);
  std::vector<int64_t> t;
  t.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto index = static_cast<size_t>(std::floor(static_cast<double>(i) * step));
    t.push_back(origin[origin.size() - 1 - index]);  // index into the reversed schedule
  }
  return t;
}

BoundaryScalings lcm_boundary_scalings(int64_t timestep, double timestep_scaling) {
  // torch: (t * scaling) is float32; 0.25 / x runs as x.reciprocal() * 0.25; ** 0.5 is sqrt.
  const float scaled = static_cast<float>(timestep) * static_cast<float>(timestep_scaling);
  const float denom = scaled * scaled + 0.25f;
  BoundaryScalings b;
  b.c_skip = (1.0f / denom) * 0.25f;
  b.c_out = scaled / std::sqrt(denom);
  return b;
}

namespace {

// The Python float a user wrote for a value that reached us as a float: the shortest decimal
// that gives back the float (0.8f → 0.8). 1 - 0.8 in double is not 1 - 0.8f.
double as_written(float v) {
  char buf[32];
  const auto written = std::to_chars(buf, buf + sizeof buf, v);
  double d = static_cast<double>(v);
  std::from_chars(buf, written.ptr, d);
  return d;
}

}  // namespace

int64_t tcd_timestep_s(int64_t prev_timestep, float gamma) {
  // (1 - eta) is a Python float; times the int64 tensor it becomes a float32 product.
  const auto factor = static_cast<float>(1.0 - as_written(gamma));
  return static_cast<int64_t>(std::floor(static_cast<float>(prev_timestep) * factor));
}

}  // namespace ipa::sampling
