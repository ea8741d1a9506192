// The scalar rules of the consistency-distilled samplers, LCMScheduler and TCDScheduler
// (diffusers 0.30.3): their timestep schedule, LCM's boundary-condition scalings and TCD's
// intermediate timestep s. Separate from the schedulers so the tests can check each rule.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ipa::sampling {

// n timesteps, descending, picked evenly by index from the distillation schedule
// [k - 1, 2k - 1, ..., original_steps * k - 1] with k = num_train // original_steps (indices
// floor(linspace(0, original_steps, n, endpoint=False)) of the reversed schedule). Without
// original_steps (TCD's `original_inference_steps: null`) the schedule is every training
// timestep. steps_offset and timestep_spacing play no part. Throws ipa::Error (naming `source`)
// with diffusers' conditions: 1 <= n <= num_train, original_steps <= num_train and
// n <= original_steps.
std::vector<int64_t> consistency_timesteps(int num_train, std::optional<int> original_steps, int n,
                                           const std::string& source);

// LCM's c_skip and c_out at `timestep` (sigma_data 0.5), in float32 as torch computes them from
// an int64 timestep tensor times a Python float.
struct BoundaryScalings {
  float c_skip = 0.0f;
  float c_out = 0.0f;
};
BoundaryScalings lcm_boundary_scalings(int64_t timestep, double timestep_scaling);

// TCD's s = floor((1 - gamma) * prev_timestep): 1 - gamma in double from the decimal gamma
// stands for (Python's eta), the product in float32, as torch does.
int64_t tcd_timestep_s(int64_t prev_timestep, float gamma);

}  // namespace ipa::sampling
