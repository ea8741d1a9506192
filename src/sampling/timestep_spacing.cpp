#include "sampling/timestep_spacing.h"

#include <algorithm>

#include "base/error.h"
#include "sampling/noise_schedule.h"

namespace ipa::sampling {
namespace {

[[noreturn]] void bad_spacing(const std::string& spacing) {
  throw Error("timestep_spacing '" + spacing +
              "' is not supported (expected linspace, leading or trailing)");
}

// np.round(values).astype(np.int64)
std::vector<int64_t> round_to_int(const std::vector<double>& values) {
  std::vector<int64_t> out;
  out.reserve(values.size());
  for (double v : values) out.push_back(static_cast<int64_t>(numpy_round(v)));
  return out;
}

}  // namespace

std::vector<int64_t> ddim_timesteps(const std::string& spacing, int num_train, int n,
                                    int steps_offset) {
  std::vector<int64_t> t;
  if (spacing == "linspace") {
    t = round_to_int(numpy_linspace(0, num_train - 1, n));
    std::reverse(t.begin(), t.end());
  } else if (spacing == "leading") {
    const int64_t step_ratio = num_train / n;
    for (int64_t i = n - 1; i >= 0; --i) t.push_back(i * step_ratio + steps_offset);
  } else if (spacing == "trailing") {
    const double step_ratio = static_cast<double>(num_train) / n;
    t = round_to_int(numpy_arange(num_train, 0, -step_ratio));
    for (auto& v : t) v -= 1;
  } else {
    bad_spacing(spacing);
  }
  return t;
}

std::vector<int64_t> pndm_base_timesteps(const std::string& spacing, int num_train, int n,
                                         int steps_offset) {
  std::vector<int64_t> t = ddim_timesteps(spacing, num_train, n, steps_offset);
  std::reverse(t.begin(), t.end());
  return t;
}

std::vector<float> sigma_scheduler_timesteps(const std::string& spacing, int num_train, int n,
                                             int steps_offset) {
  std::vector<float> t;
  if (spacing == "linspace") {
    for (double v : numpy_linspace(0, num_train - 1, n)) t.push_back(static_cast<float>(v));
    std::reverse(t.begin(), t.end());
  } else if (spacing == "leading") {
    const int64_t step_ratio = num_train / n;
    for (int64_t i = n - 1; i >= 0; --i) {
      t.push_back(static_cast<float>(i * step_ratio) + static_cast<float>(steps_offset));
    }
  } else if (spacing == "trailing") {
    const double step_ratio = static_cast<double>(num_train) / n;
    for (double v : numpy_arange(num_train, 0, -step_ratio)) {
      t.push_back(static_cast<float>(numpy_round(v)) - 1.0f);
    }
  } else {
    bad_spacing(spacing);
  }
  return t;
}

std::vector<int64_t> dpm_timesteps(const std::string& spacing, int num_train, int last_timestep,
                                   int n, int steps_offset) {
  std::vector<int64_t> t;
  if (spacing == "linspace") {
    t = round_to_int(numpy_linspace(0, last_timestep - 1, n + 1));
    std::reverse(t.begin(), t.end());
    t.pop_back();
  } else if (spacing == "leading") {
    const int64_t step_ratio = last_timestep / (n + 1);
    for (int64_t i = n; i >= 1; --i) t.push_back(i * step_ratio + steps_offset);
  } else if (spacing == "trailing") {
    const double step_ratio = static_cast<double>(num_train) / n;
    t = round_to_int(numpy_arange(last_timestep, 0, -step_ratio));
    for (auto& v : t) v -= 1;
  } else {
    bad_spacing(spacing);
  }
  return t;
}

}  // namespace ipa::sampling
