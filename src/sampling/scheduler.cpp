#include "sampling/scheduler.h"

#include <cmath>
#include <string>

#include "base/error.h"
#include "sampling/scheduler_registry.h"
#include "sampling/tensor_loops.h"

namespace ipa::sampling {

Tensor Scheduler::scale_model_input(const Tensor& sample, size_t step_index) const {
  check_step_index(step_index);
  return sample;
}

size_t Scheduler::first_step_for_strength(double strength) const {
  if (!(strength >= 0.0 && strength <= 1.0)) {
    throw Error("img2img strength must lie in [0, 1], got " + std::to_string(strength));
  }
  if (num_inference_steps_ <= 0) throw Error("scheduler: call set_timesteps first");
  const int n = num_inference_steps_;
  const int init_timestep = std::min(static_cast<int>(n * strength), n);
  return static_cast<size_t>(std::max(n - init_timestep, 0));
}

void Scheduler::check_num_steps(int n) const {
  if (n < 1 || n > config_.num_train_timesteps) {
    throw Error("number of inference steps must be between 1 and num_train_timesteps (" +
                    std::to_string(config_.num_train_timesteps) + "), got " + std::to_string(n),
                config_.source);
  }
}

void Scheduler::check_step_index(size_t step_index) const {
  if (timesteps_.empty()) throw Error(class_name() + ": call set_timesteps before stepping");
  if (step_index >= timesteps_.size()) {
    throw Error(class_name() + ": step index " + std::to_string(step_index) +
                " is out of range (the schedule has " + std::to_string(timesteps_.size()) +
                " steps)");
  }
}

void Scheduler::check_step_order(size_t step_index) const {
  if (last_step_ && step_index != *last_step_ + 1) {
    throw Error(class_name() + " keeps a multistep history: step " + std::to_string(step_index) +
                " cannot follow step " + std::to_string(*last_step_) +
                " (call set_timesteps to start over)");
  }
}

void Scheduler::check_timesteps_in_range() const {
  for (double t : timesteps_) {
    if (t < 0 || t >= config_.num_train_timesteps) {
      throw Error(class_name() + ": timestep " + std::to_string(static_cast<int64_t>(t)) +
                      " falls outside the " + std::to_string(config_.num_train_timesteps) +
                      " training timesteps (check steps_offset / timestep_spacing)",
                  config_.source);
    }
  }
}

Tensor Scheduler::require_noise(NoiseSource* noise, const Shape& shape) const {
  if (noise == nullptr) {
    throw Error(class_name() + " is stochastic: step() needs a noise generator");
  }
  Tensor n = detail::as_f32(noise->randn(shape), "noise");
  if (n.shape() != shape) {
    throw Error(class_name() + ": the noise source returned " + shape_str(n.shape()) +
                ", expected " + shape_str(shape));
  }
  return n;
}

namespace {

struct NamedScheduler {
  const char* name;
  SchedulerKind kind;
  // Options the short name implies, applied on top of the config.
  nlohmann::json overrides;
};

const std::vector<NamedScheduler>& named_schedulers() {
  using nlohmann::json;
  static const std::vector<NamedScheduler> table = {
      {"DDIMScheduler", SchedulerKind::kDDIM, json::object()},
      {"PNDMScheduler", SchedulerKind::kPNDM, json::object()},
      {"EulerDiscreteScheduler", SchedulerKind::kEuler, json::object()},
      {"EulerAncestralDiscreteScheduler", SchedulerKind::kEulerAncestral, json::object()},
      {"DPMSolverMultistepScheduler", SchedulerKind::kDPMSolverMultistep, json::object()},
      {"LMSDiscreteScheduler", SchedulerKind::kLMS, json::object()},
      {"LCMScheduler", SchedulerKind::kLCM, json::object()},
      {"TCDScheduler", SchedulerKind::kTCD, json::object()},
      {"ddim", SchedulerKind::kDDIM, json::object()},
      {"pndm", SchedulerKind::kPNDM, json::object()},
      {"euler", SchedulerKind::kEuler, {{"use_karras_sigmas", false}}},
      {"euler_karras", SchedulerKind::kEuler, {{"use_karras_sigmas", true}}},
      {"euler_a", SchedulerKind::kEulerAncestral, json::object()},
      {"dpmpp_2m",
       SchedulerKind::kDPMSolverMultistep,
       {{"algorithm_type", "dpmsolver++"}, {"solver_order", 2}, {"use_karras_sigmas", false}}},
      {"dpmpp_2m_karras",
       SchedulerKind::kDPMSolverMultistep,
       {{"algorithm_type", "dpmsolver++"}, {"solver_order", 2}, {"use_karras_sigmas", true}}},
      {"dpmpp_2m_sde",
       SchedulerKind::kDPMSolverMultistep,
       {{"algorithm_type", "sde-dpmsolver++"}, {"solver_order", 2}, {"use_karras_sigmas", false}}},
      {"dpmpp_2m_sde_karras",
       SchedulerKind::kDPMSolverMultistep,
       {{"algorithm_type", "sde-dpmsolver++"}, {"solver_order", 2}, {"use_karras_sigmas", true}}},
      {"lms", SchedulerKind::kLMS, {{"use_karras_sigmas", false}}},
      {"lms_karras", SchedulerKind::kLMS, {{"use_karras_sigmas", true}}},
      {"lcm", SchedulerKind::kLCM, json::object()},
      {"tcd", SchedulerKind::kTCD, json::object()},
  };
  return table;
}

}  // namespace

std::vector<std::string> scheduler_names() {
  std::vector<std::string> names;
  for (const auto& s : named_schedulers()) names.emplace_back(s.name);
  return names;
}

std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const nlohmann::json& config,
                                          const std::string& source,
                                          const std::string& timestep_spacing) {
  if (!config.is_object()) throw Error("scheduler config must be a JSON object", source);
  std::string wanted = name;
  if (wanted.empty() || wanted == "default") {
    auto it = config.find("_class_name");
    if (it == config.end() || !it->is_string()) {
      throw Error("no scheduler named and the config has no _class_name", source);
    }
    wanted = it->get<std::string>();
  }
  const NamedScheduler* found = nullptr;
  for (const auto& s : named_schedulers()) {
    if (wanted == s.name) found = &s;
  }
  if (found == nullptr) {
    std::string list;
    for (const auto& n : scheduler_names()) list += (list.empty() ? "" : ", ") + n;
    throw Error("unknown scheduler '" + wanted + "' (known: " + list + ")", source);
  }
  nlohmann::json merged = config;
  for (const auto& [key, value] : found->overrides.items()) merged[key] = value;
  if (!timestep_spacing.empty()) {
    if (found->kind == SchedulerKind::kLCM || found->kind == SchedulerKind::kTCD) {
      // diffusers reads the key and ignores it; asking for it here would change nothing.
      throw Error("timestep_spacing '" + timestep_spacing + "' cannot apply to " + wanted +
                  ": LCM and TCD take their timesteps from the original_inference_steps "
                  "schedule (leave the spacing at default)");
    }
    merged["timestep_spacing"] = timestep_spacing;
  }
  SchedulerConfig c = parse_scheduler_config(merged, found->kind, source);
  switch (found->kind) {
    case SchedulerKind::kDDIM:
      return make_ddim_scheduler(std::move(c));
    case SchedulerKind::kPNDM:
      return make_pndm_scheduler(std::move(c));
    case SchedulerKind::kEuler:
      return make_euler_scheduler(std::move(c));
    case SchedulerKind::kEulerAncestral:
      return make_euler_ancestral_scheduler(std::move(c));
    case SchedulerKind::kDPMSolverMultistep:
      return make_dpm_solver_multistep_scheduler(std::move(c));
    case SchedulerKind::kLMS:
      return make_lms_scheduler(std::move(c));
    case SchedulerKind::kLCM:
      return make_lcm_scheduler(std::move(c));
    case SchedulerKind::kTCD:
      return make_tcd_scheduler(std::move(c));
  }
  throw Error("unhandled scheduler kind");
}

std::unique_ptr<Scheduler> make_scheduler_from_file(const std::string& name,
                                                    const std::string& config_path) {
  return make_scheduler(name, read_config_json_file(config_path), config_path);
}

}  // namespace ipa::sampling
