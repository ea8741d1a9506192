// The keys of diffusers' `scheduler/scheduler_config.json` that the schedulers here honour.
// Like diffusers' `from_config`, keys a scheduler does not know are ignored and missing keys
// take that scheduler's own defaults (they differ: DDIM and PNDM space timesteps "leading",
// the others "linspace"; DDIM clips samples and sets the final alpha to one by default; LCM and
// TCD default to SD's scaled_linear betas and ignore timestep_spacing / steps_offset).
#pragma once
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ipa::sampling {

enum class SchedulerKind {
  kDDIM,
  kPNDM,
  kEuler,
  kEulerAncestral,
  kDPMSolverMultistep,
  kLMS,
  kLCM,
  kTCD,
};

struct SchedulerConfig {
  std::string source;  // file path or label, for error messages

  // Noise schedule (all schedulers).
  int num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  std::string beta_schedule = "linear";  // linear | scaled_linear | squaredcos_cap_v2
  std::vector<double> trained_betas;     // non-empty overrides beta_schedule
  bool rescale_betas_zero_snr = false;
  std::string prediction_type = "epsilon";    // epsilon | v_prediction | sample
  std::string timestep_spacing = "linspace";  // linspace | leading | trailing
  int steps_offset = 0;

  // DDIM / PNDM / LCM / TCD.
  bool set_alpha_to_one = false;
  bool clip_sample = false;
  double clip_sample_range = 1.0;
  bool thresholding = false;
  bool skip_prk_steps = false;

  // Euler / LMS / DPM-Solver.
  bool use_karras_sigmas = false;
  std::string interpolation_type = "linear";   // linear | log_linear (Euler)
  std::optional<double> sigma_min, sigma_max;  // Euler's Karras range override
  std::string timestep_type = "discrete";      // discrete | continuous (Euler)
  std::string final_sigmas_type = "zero";      // zero | sigma_min (Euler, DPM-Solver)

  // DPM-Solver multistep.
  int solver_order = 2;
  std::string algorithm_type = "dpmsolver++";  // dpmsolver++ | dpmsolver | sde-dpmsolver++
  std::string solver_type = "midpoint";        // midpoint | heun
  bool lower_order_final = true;
  bool euler_at_final = false;
  bool use_lu_lambdas = false;
  double lambda_min_clipped = -std::numeric_limits<double>::infinity();
  std::optional<std::string> variance_type;

  // LCM / TCD: the distillation schedule's step count (TCD: null = every training timestep)
  // and the factor on t in LCM's boundary conditions c_skip / c_out.
  std::optional<int> original_inference_steps = 50;
  double timestep_scaling = 10.0;
};

// Reads the keys `kind` uses from `j`, starting from that scheduler's diffusers defaults.
// Wrong types and unknown option values throw ipa::Error naming `source` and the key.
SchedulerConfig parse_scheduler_config(const nlohmann::json& j, SchedulerKind kind,
                                       const std::string& source);

// Parses JSON text as Python's json module writes it: bare NaN / Infinity / -Infinity (which
// diffusers writes for e.g. lambda_min_clipped) become the strings "NaN", "Infinity",
// "-Infinity"; numeric config readers here accept those strings.
nlohmann::json parse_config_json(const std::string& text, const std::string& source);
nlohmann::json read_config_json_file(const std::string& path);

}  // namespace ipa::sampling
