#include "sampling/noise_schedule.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "base/error.h"

namespace ipa::sampling {

std::vector<float> torch_linspace_f32(double start_d, double end_d, int64_t steps) {
  // PyTorch's CPU kernel: float step = (end - start) / (steps - 1); the first half counts up
  // from start, the second half down from end. Its vectorised loop (AVX2 build) makes 8 values
  // at a time as base + k*step around a base computed for the first lane, while two full
  // vectors fit; the rest come one by one. The compiler fused the multiply-adds.
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(steps, 0)));
  if (steps <= 0) return out;
  const float start = static_cast<float>(start_d);
  const float end = static_cast<float>(end_d);
  if (steps == 1) {
    out[0] = start;
    return out;
  }
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int64_t halfway = steps / 2;
  auto value_at = [&](int64_t idx) {
    return idx < halfway ? std::fmaf(step, static_cast<float>(idx), start)
                         : std::fmaf(-step, static_cast<float>(steps - idx - 1), end);
  };
  constexpr int64_t kLanes = 8;
  auto vector_of_8 = [&](int64_t idx) {
    const float base = value_at(idx);
    out[idx] = base;
    out[idx + 1] = base + step;
    for (int64_t k = 2; k < kLanes; ++k) {
      out[idx + k] = std::fmaf(static_cast<float>(k), step, base);
    }
  };
  int64_t i = 0;
  for (; i + 2 * kLanes <= steps; i += 2 * kLanes) {
    vector_of_8(i);
    vector_of_8(i + kLanes);
  }
  for (; i < steps; ++i) out[i] = value_at(i);
  return out;
}

std::vector<double> numpy_linspace(double start, double stop, int64_t num) {
  std::vector<double> y(static_cast<size_t>(std::max<int64_t>(num, 0)));
  if (num <= 0) return y;
  const int64_t div = num - 1;
  const double delta = stop - start;
  const double step = div > 0 ? delta / static_cast<double>(div) : 0.0;
  for (int64_t i = 0; i < num; ++i) {
    double v = static_cast<double>(i);
    if (div > 0 && step != 0.0) {
      v = v * step;
    } else if (div > 0) {
      v = v / static_cast<double>(div) * delta;
    } else {
      v = v * delta;
    }
    y[static_cast<size_t>(i)] = v + start;
  }
  if (num > 1) y.back() = stop;
  return y;
}

std::vector<double> numpy_arange(double start, double stop, double step) {
  const double len_f = std::ceil((stop - start) / step);
  if (!(len_f > 0)) return {};
  const auto length = static_cast<size_t>(len_f);
  std::vector<double> a(length);
  a[0] = start;
  if (length == 1) return a;
  a[1] = start + step;
  const double delta = a[1] - a[0];
  for (size_t i = 2; i < length; ++i) a[i] = start + static_cast<double>(i) * delta;
  return a;
}

double numpy_interp_unit_grid(double x, const std::vector<double>& fp) {
  const size_t n = fp.size();
  if (n == 0) throw Error("interpolation over an empty table");
  if (std::isnan(x)) return x;
  if (x <= 0.0) return fp.front();
  const double last = static_cast<double>(n - 1);
  if (x >= last) return fp.back();
  const auto j = static_cast<size_t>(std::floor(x));
  if (static_cast<double>(j) == x) return fp[j];
  const double slope = (fp[j + 1] - fp[j]) / 1.0;
  return slope * (x - static_cast<double>(j)) + fp[j];
}

double numpy_round(double x) {
  return std::nearbyint(x);
}

namespace {

// torch float32 arithmetic of diffusers' rescale_zero_terminal_snr.
std::vector<float> rescale_zero_terminal_snr(const std::vector<float>& betas) {
  const size_t n = betas.size();
  std::vector<float> sqrt_bar(n);
  double cum = 1.0;
  for (size_t i = 0; i < n; ++i) {
    cum *= static_cast<double>(1.0f - betas[i]);
    sqrt_bar[i] = std::sqrt(static_cast<float>(cum));
  }
  const float first = sqrt_bar.front();
  const float last = sqrt_bar.back();
  const float scale = first / (first - last);
  for (auto& v : sqrt_bar) v = (v - last) * scale;
  std::vector<float> out(n);
  float prev_bar = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    const float bar = sqrt_bar[i] * sqrt_bar[i];
    const float alpha = i == 0 ? bar : bar / prev_bar;
    out[i] = 1.0f - alpha;
    prev_bar = bar;
  }
  return out;
}

}  // namespace

std::vector<float> make_betas(const SchedulerConfig& c) {
  const int n = c.num_train_timesteps;
  if (n < 2) {
    throw Error("num_train_timesteps must be at least 2, got " + std::to_string(n), c.source);
  }
  std::vector<float> betas;
  if (!c.trained_betas.empty()) {
    if (c.trained_betas.size() != static_cast<size_t>(n)) {
      throw Error("trained_betas has " + std::to_string(c.trained_betas.size()) +
                      " entries but num_train_timesteps is " + std::to_string(n),
                  c.source, "trained_betas");
    }
    for (double b : c.trained_betas) betas.push_back(static_cast<float>(b));
  } else if (c.beta_schedule == "linear") {
    betas = torch_linspace_f32(c.beta_start, c.beta_end, n);
  } else if (c.beta_schedule == "scaled_linear") {
    betas = torch_linspace_f32(std::sqrt(c.beta_start), std::sqrt(c.beta_end), n);
    for (auto& b : betas) b = b * b;
  } else if (c.beta_schedule == "squaredcos_cap_v2") {
    // diffusers' betas_for_alpha_bar in Python floats, then a float32 tensor.
    auto alpha_bar = [](double t) {
      return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2.0);
    };
    for (int i = 0; i < n; ++i) {
      const double t1 = static_cast<double>(i) / n;
      const double t2 = static_cast<double>(i + 1) / n;
      betas.push_back(static_cast<float>(std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999)));
    }
  } else {
    throw Error("unknown beta_schedule '" + c.beta_schedule +
                    "' (expected linear, scaled_linear or squaredcos_cap_v2)",
                c.source, "beta_schedule");
  }
  for (float b : betas) {
    if (!(b > 0.0f && b < 1.0f)) {
      throw Error("betas must lie in (0, 1); got " + std::to_string(b), c.source,
                  c.trained_betas.empty() ? "beta_start/beta_end" : "trained_betas");
    }
  }
  if (c.rescale_betas_zero_snr) betas = rescale_zero_terminal_snr(betas);
  return betas;
}

std::vector<float> make_alphas_cumprod(const SchedulerConfig& c, bool zero_snr_floor) {
  const std::vector<float> betas = make_betas(c);
  std::vector<float> out(betas.size());
  double cum = 1.0;  // torch.cumprod accumulates float32 inputs in double on the CPU
  for (size_t i = 0; i < betas.size(); ++i) {
    cum *= static_cast<double>(1.0f - betas[i]);
    out[i] = static_cast<float>(cum);
  }
  // Close to 0 without being 0 so the first sigma stays finite (diffusers does the same).
  if (c.rescale_betas_zero_snr && zero_snr_floor) out.back() = 0x1p-24f;
  return out;
}

std::vector<float> train_sigmas(const std::vector<float>& alphas_cumprod) {
  std::vector<float> s(alphas_cumprod.size());
  for (size_t i = 0; i < s.size(); ++i) {
    s[i] = std::sqrt((1.0f - alphas_cumprod[i]) / alphas_cumprod[i]);
  }
  return s;
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int n) {
  const double rho = 7.0;
  const std::vector<double> ramp = numpy_linspace(0.0, 1.0, n);
  const double min_inv_rho = std::pow(sigma_min, 1 / rho);
  const double max_inv_rho = std::pow(sigma_max, 1 / rho);
  std::vector<double> out(ramp.size());
  for (size_t i = 0; i < ramp.size(); ++i) {
    out[i] = std::pow(max_inv_rho + ramp[i] * (min_inv_rho - max_inv_rho), rho);
  }
  return out;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const size_t n = log_sigmas.size();
  if (n < 2) throw Error("sigma_to_t needs at least two training sigmas");
  // numpy 1.x casts the float64 scalar to the float32 array's type.
  const float log_sigma = static_cast<float>(std::log(std::max(sigma, 1e-10)));
  size_t low = 0;
  for (size_t i = 0; i < n; ++i) {
    if (log_sigma - log_sigmas[i] >= 0.0f) low = i;
  }
  low = std::min(low, n - 2);
  const size_t high = low + 1;
  const float lo = log_sigmas[low];
  const float hi = log_sigmas[high];
  float w = (lo - log_sigma) / (lo - hi);
  w = std::clamp(w, 0.0f, 1.0f);
  return static_cast<double>(1.0f - w) * static_cast<double>(low) +
         static_cast<double>(w) * static_cast<double>(high);
}

std::vector<float> log_f32(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = std::log(v[i]);
  return out;
}

}  // namespace ipa::sampling
