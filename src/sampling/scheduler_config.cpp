#include "sampling/scheduler_config.h"

#include <cmath>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "base/error.h"

namespace ipa::sampling {
namespace {

using nlohmann::json;

class Reader {
 public:
  Reader(const json& j, const std::string& source) : j_(j), source_(source) {}

  const json* find(const std::string& key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  [[noreturn]] void bad_type(const std::string& key, const char* want) const {
    throw Error("config key '" + key + "' must be " + want + ", got " + j_.at(key).dump(), source_,
                key);
  }

  void get(const std::string& key, bool* out) const {
    if (const json* v = find(key)) {
      if (!v->is_boolean()) bad_type(key, "true or false");
      *out = v->get<bool>();
    }
  }
  void get(const std::string& key, int* out) const {
    if (const json* v = find(key)) {
      if (v->is_number_integer()) {
        *out = v->get<int>();
      } else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>()) {
        *out = static_cast<int>(v->get<double>());
      } else {
        bad_type(key, "an integer");
      }
    }
  }
  void get(const std::string& key, double* out) const {
    if (const json* v = find(key)) *out = number(key, *v);
  }
  void get(const std::string& key, std::optional<double>* out) const {
    if (const json* v = find(key)) *out = number(key, *v);
  }
  void get(const std::string& key, std::string* out) const {
    if (const json* v = find(key)) {
      if (!v->is_string()) bad_type(key, "a string");
      *out = v->get<std::string>();
    }
  }
  void get(const std::string& key, std::optional<std::string>* out) const {
    if (const json* v = find(key)) {
      if (!v->is_string()) bad_type(key, "a string");
      *out = v->get<std::string>();
    }
  }
  void get(const std::string& key, std::vector<double>* out) const {
    if (const json* v = find(key)) {
      if (!v->is_array()) bad_type(key, "a list of numbers");
      out->clear();
      for (const json& e : *v) out->push_back(number(key, e));
    }
  }
  // A string option restricted to `allowed`.
  void get_choice(const std::string& key, std::string* out,
                  std::initializer_list<const char*> allowed) const {
    get(key, out);
    check_choice(key, *out, allowed);
  }
  void check_choice(const std::string& key, const std::string& value,
                    std::initializer_list<const char*> allowed) const {
    for (const char* a : allowed) {
      if (value == a) return;
    }
    std::string list;
    for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
    throw Error("config key '" + key + "' has unsupported value '" + value + "' (expected one of " +
                    list + ")",
                source_, key);
  }

 private:
  double number(const std::string& key, const json& v) const {
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) {
      const std::string s = v.get<std::string>();
      if (s == "Infinity") return INFINITY;
      if (s == "-Infinity") return -INFINITY;
      if (s == "NaN") return NAN;
    }
    bad_type(key, "a number");
  }

  const json& j_;
  const std::string& source_;
};

}  // namespace

SchedulerConfig parse_scheduler_config(const json& j, SchedulerKind kind,
                                       const std::string& source) {
  if (!j.is_object()) throw Error("scheduler config must be a JSON object", source);
  SchedulerConfig c;
  c.source = source;
  // Per-class defaults of diffusers 0.30.3.
  switch (kind) {
    case SchedulerKind::kDDIM:
      c.timestep_spacing = "leading";
      c.clip_sample = true;
      c.set_alpha_to_one = true;
      break;
    case SchedulerKind::kPNDM:
      c.timestep_spacing = "leading";
      c.set_alpha_to_one = false;
      c.skip_prk_steps = false;
      break;
    case SchedulerKind::kLCM:
    case SchedulerKind::kTCD:
      c.beta_start = 0.00085;
      c.beta_end = 0.012;
      c.beta_schedule = "scaled_linear";
      c.set_alpha_to_one = true;
      c.timestep_spacing = "leading";  // read but unused, as in diffusers
      break;
    default:
      c.timestep_spacing = "linspace";
      break;
  }

  const Reader r(j, source);
  r.get("num_train_timesteps", &c.num_train_timesteps);
  r.get("beta_start", &c.beta_start);
  r.get("beta_end", &c.beta_end);
  r.get("trained_betas", &c.trained_betas);
  if (c.trained_betas.empty()) {
    r.get_choice("beta_schedule", &c.beta_schedule,
                 {"linear", "scaled_linear", "squaredcos_cap_v2"});
  }
  r.get_choice("timestep_spacing", &c.timestep_spacing, {"linspace", "leading", "trailing"});
  r.get("steps_offset", &c.steps_offset);
  if (kind == SchedulerKind::kEulerAncestral) {
    r.get_choice("prediction_type", &c.prediction_type, {"epsilon", "v_prediction"});
  } else {
    r.get_choice("prediction_type", &c.prediction_type, {"epsilon", "v_prediction", "sample"});
  }
  if (kind != SchedulerKind::kPNDM && kind != SchedulerKind::kLMS) {
    r.get("rescale_betas_zero_snr", &c.rescale_betas_zero_snr);
  }

  switch (kind) {
    case SchedulerKind::kDDIM:
      r.get("clip_sample", &c.clip_sample);
      r.get("clip_sample_range", &c.clip_sample_range);
      r.get("set_alpha_to_one", &c.set_alpha_to_one);
      r.get("thresholding", &c.thresholding);
      break;
    case SchedulerKind::kPNDM:
      r.get("set_alpha_to_one", &c.set_alpha_to_one);
      r.get("skip_prk_steps", &c.skip_prk_steps);
      break;
    case SchedulerKind::kEuler:
      r.get_choice("interpolation_type", &c.interpolation_type, {"linear", "log_linear"});
      r.get("use_karras_sigmas", &c.use_karras_sigmas);
      r.get("sigma_min", &c.sigma_min);
      r.get("sigma_max", &c.sigma_max);
      r.get_choice("timestep_type", &c.timestep_type, {"discrete", "continuous"});
      r.get_choice("final_sigmas_type", &c.final_sigmas_type, {"zero", "sigma_min"});
      break;
    case SchedulerKind::kEulerAncestral:
      break;
    case SchedulerKind::kLMS:
      r.get("use_karras_sigmas", &c.use_karras_sigmas);
      break;
    case SchedulerKind::kLCM:
    case SchedulerKind::kTCD:
      r.get("set_alpha_to_one", &c.set_alpha_to_one);
      r.get("thresholding", &c.thresholding);
      if (j.contains("original_inference_steps") && j.at("original_inference_steps").is_null()) {
        c.original_inference_steps.reset();  // TCD: every training timestep
      } else {
        int steps = *c.original_inference_steps;
        r.get("original_inference_steps", &steps);
        c.original_inference_steps = steps;
      }
      if (kind == SchedulerKind::kLCM) {
        r.get("clip_sample", &c.clip_sample);
        r.get("clip_sample_range", &c.clip_sample_range);
        r.get("timestep_scaling", &c.timestep_scaling);
      }
      break;
    case SchedulerKind::kDPMSolverMultistep:
      r.get("solver_order", &c.solver_order);
      r.get("thresholding", &c.thresholding);
      r.get("algorithm_type", &c.algorithm_type);
      if (c.algorithm_type == "deis") c.algorithm_type = "dpmsolver++";  // diffusers maps it so
      r.check_choice("algorithm_type", c.algorithm_type,
                     {"dpmsolver++", "dpmsolver", "sde-dpmsolver++"});
      r.get("solver_type", &c.solver_type);
      if (c.solver_type == "logrho" || c.solver_type == "bh1" || c.solver_type == "bh2") {
        c.solver_type = "midpoint";  // diffusers maps these DEIS/UniPC names to midpoint
      }
      r.check_choice("solver_type", c.solver_type, {"midpoint", "heun"});
      r.get("lower_order_final", &c.lower_order_final);
      r.get("euler_at_final", &c.euler_at_final);
      r.get("use_karras_sigmas", &c.use_karras_sigmas);
      r.get("use_lu_lambdas", &c.use_lu_lambdas);
      r.get_choice("final_sigmas_type", &c.final_sigmas_type, {"zero", "sigma_min"});
      r.get("lambda_min_clipped", &c.lambda_min_clipped);
      r.get("variance_type", &c.variance_type);
      break;
  }
  return c;
}

json parse_config_json(const std::string& text, const std::string& source) {
  // Quote the bare NaN / Infinity tokens Python's json module writes, outside strings only.
  std::string fixed;
  fixed.reserve(text.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      fixed += ch;
      if (ch == '\\' && i + 1 < text.size()) {
        fixed += text[++i];
      } else if (ch == '"') {
        in_string = false;
      }
      continue;
    }
    if (ch == '"') {
      in_string = true;
      fixed += ch;
      continue;
    }
    bool replaced = false;
    for (const char* token : {"-Infinity", "Infinity", "NaN"}) {
      const std::string t(token);
      if (text.compare(i, t.size(), t) == 0) {
        fixed += '"' + t + '"';
        i += t.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) fixed += ch;
  }
  try {
    return json::parse(fixed);
  } catch (const json::exception& e) {
    throw Error(std::string("malformed JSON: ") + e.what(), source);
  }
}

json read_config_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open scheduler config", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_config_json(ss.str(), path);
}

}  // namespace ipa::sampling
