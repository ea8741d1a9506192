// The numeric building blocks the schedulers share, each reproducing the exact float32 torch /
// float64 numpy computation diffusers performs (same operations in the same order).
#pragma once
#include <cstdint>
#include <vector>

#include "sampling/scheduler_config.h"

namespace ipa::sampling {

// torch.linspace(start, end, steps, dtype=torch.float32) on the CPU.
std::vector<float> torch_linspace_f32(double start, double end, int64_t steps);
// numpy.linspace(start, stop, num) in float64 (endpoint included).
std::vector<double> numpy_linspace(double start, double stop, int64_t num);
// numpy.arange(start, stop, step) in float64.
std::vector<double> numpy_arange(double start, double stop, double step);
// numpy.interp(x, [0, 1, ..., n-1], fp) for one x.
double numpy_interp_unit_grid(double x, const std::vector<double>& fp);
// np.interp(timesteps, arange(len(train_sigmas)), train_sigmas) in float64.
template <typename T>
std::vector<double> interpolate_sigmas(const std::vector<float>& train_sigmas,
                                       const std::vector<T>& timesteps) {
  const std::vector<double> table(train_sigmas.begin(), train_sigmas.end());
  std::vector<double> out;
  out.reserve(timesteps.size());
  for (T t : timesteps) out.push_back(numpy_interp_unit_grid(static_cast<double>(t), table));
  return out;
}
// numpy's round(): half to even.
double numpy_round(double x);

// betas as float32 torch tensor values (linear, scaled_linear, squaredcos_cap_v2 or
// trained_betas), with rescale_betas_zero_snr applied when set. Throws ipa::Error for an
// unknown schedule or invalid values.
std::vector<float> make_betas(const SchedulerConfig& config);
// torch.cumprod(1 - betas): float32 factors, product accumulated in double on the CPU.
// With rescale_betas_zero_snr the last entry is 0; `zero_snr_floor` makes it 2^-24 instead, as
// diffusers' sigma schedulers (Euler, Euler a, DPM-Solver) set it so that their first sigma
// stays finite (DDIM, LCM and TCD keep the 0).
std::vector<float> make_alphas_cumprod(const SchedulerConfig& config, bool zero_snr_floor);
// ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5 in float32, indexed by training timestep.
std::vector<float> train_sigmas(const std::vector<float>& alphas_cumprod);

// Karras et al. (2022) sigmas, rho = 7, from sigma_max down to sigma_min (float64).
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int n);
// diffusers' _sigma_to_t: the fractional training timestep of `sigma` by interpolating
// log-sigmas (with numpy 1.x's float32 promotion of the scalar).
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);
// np.log of a float32 array.
std::vector<float> log_f32(const std::vector<float>& v);

}  // namespace ipa::sampling
