// Inference timesteps for diffusers' three `timestep_spacing` modes ("linspace", "leading",
// "trailing"; Table 2 of arXiv:2305.08891). The schedulers differ in details (integer or
// float32 timesteps, DPM-Solver's n + 1 grid), so each has its own function.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ipa::sampling {

// DDIMScheduler.set_timesteps: integers, descending.
std::vector<int64_t> ddim_timesteps(const std::string& spacing, int num_train, int n,
                                    int steps_offset);
// PNDMScheduler's `_timesteps`: integers, ascending (before the PLMS repetition).
std::vector<int64_t> pndm_base_timesteps(const std::string& spacing, int num_train, int n,
                                         int steps_offset);
// Euler / Euler ancestral / LMS: float32 values, descending.
std::vector<float> sigma_scheduler_timesteps(const std::string& spacing, int num_train, int n,
                                             int steps_offset);
// DPMSolverMultistepScheduler: integers, descending; `last_timestep` is num_train minus the
// steps clipped by lambda_min_clipped.
std::vector<int64_t> dpm_timesteps(const std::string& spacing, int num_train, int last_timestep,
                                   int n, int steps_offset);

}  // namespace ipa::sampling
