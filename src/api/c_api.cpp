// The C API (include/ipadapter.h), a client of the public C++ API: requests go through the one
// JSON parser (request_json.h), and every entry point catches every exception and turns it into
// a status and the calling thread's last error, so nothing C++ crosses the C boundary.
#include "ipadapter.h"

#include <filesystem>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "ipadapter/ipadapter.hpp"
#include "ipadapter/request_json.h"

struct ipadapter_engine {
  std::unique_ptr<ipa::Engine> engine;
  // The models of the request it was loaded from (resolved paths), to hold later requests to.
  ipa::ParsedRequest loaded;
  std::string root;
  ipadapter_log_fn log = nullptr;
  void* log_user = nullptr;
  std::string info_json;

  ipa::LogFn log_fn() const {
    if (!log) return {};
    return [log = log, user = log_user](const std::string& s) { log(s.c_str(), user); };
  }
};

struct ipadapter_result {
  std::vector<ipa::image::Image> images;
  std::string parameters;
};

namespace {

thread_local std::string last_error;
thread_local bool last_error_lost = false;  // the message could not be stored (no memory)

ipadapter_status fail(ipadapter_status status, const char* message) noexcept {
  try {
    last_error = message;
    last_error_lost = false;
  } catch (...) {
    last_error_lost = true;
  }
  return status;
}

// Runs `body`; an exception becomes its status and the thread's last error.
template <class Body>
ipadapter_status guarded(Body&& body) noexcept {
  try {
    body();
    return IPADAPTER_OK;
  } catch (const ipa::Cancelled& e) {
    return fail(IPADAPTER_CANCELLED, e.what());
  } catch (const std::bad_alloc&) {
    return fail(IPADAPTER_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(IPADAPTER_ERROR, e.what());
  } catch (...) {
    return fail(IPADAPTER_ERROR, "unknown error");
  }
}

void require(bool ok, const char* message) {
  if (!ok) throw ipa::Error(message);
}

// The request's images are not needed to load the models: they are not decoded.
ipa::RequestSources load_sources(const std::string& root) {
  ipa::RequestSources s = ipa::file_request_sources(root);
  s.image = [](const std::string&, const std::string&) { return ipa::image::Image{}; };
  return s;
}

// "./a/b/" and "a/b" name the same file.
std::string normal(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  if (!p.has_filename() && p.has_parent_path()) p = p.parent_path();
  return p.string();
}

void require_same_file(const std::string& field, const std::string& loaded,
                       const std::string& asked) {
  if (normal(loaded) == normal(asked)) return;
  throw ipa::Error(field + ": the engine loaded " + (loaded.empty() ? "none" : "'" + loaded + "'") +
                   ", the request names '" + asked + "' (load another engine for other models)");
}

// A request's models must be the engine's: base, base_config, vae, unet and the compute settings
// may be left out; ip_adapters and controlnets list the loaded ones in order (the schema
// requires their files).
void check_same_models(const ipa::ParsedRequest& loaded, const ipa::ParsedRequest& asked) {
  if (!asked.base.empty()) require_same_file("base", loaded.base, asked.base);
  if (!asked.unet.empty()) require_same_file("unet", loaded.unet, asked.unet);
  if (!asked.base_config.empty()) {
    require_same_file("base_config", loaded.base_config, asked.base_config);
  }
  if (!asked.vae.empty()) require_same_file("vae", loaded.vae, asked.vae);
  if (asked.ip_adapters.size() != loaded.ip_adapters.size()) {
    throw ipa::Error("ip_adapters: the engine loaded " + std::to_string(loaded.ip_adapters.size()) +
                     " adapter(s), the request lists " + std::to_string(asked.ip_adapters.size()) +
                     " (list the loaded ones, in order)");
  }
  for (size_t i = 0; i < asked.ip_adapters.size(); ++i) {
    const std::string f = "ip_adapters[" + std::to_string(i) + "]";
    require_same_file(f + ".file", loaded.ip_adapters[i].file, asked.ip_adapters[i].file);
    if (!asked.ip_adapters[i].image_encoder.empty()) {
      require_same_file(f + ".image_encoder", loaded.ip_adapters[i].image_encoder,
                        asked.ip_adapters[i].image_encoder);
    }
  }
  if (asked.controlnets.size() != loaded.controlnets.size()) {
    throw ipa::Error("controlnets: the engine loaded " + std::to_string(loaded.controlnets.size()) +
                     " ControlNet(s), the request lists " +
                     std::to_string(asked.controlnets.size()) +
                     " (list the loaded ones, in order)");
  }
  for (size_t i = 0; i < asked.controlnets.size(); ++i) {
    const std::string f = "controlnets[" + std::to_string(i) + "]";
    require_same_file(f + ".file", loaded.controlnets[i].file, asked.controlnets[i].file);
    if (!asked.controlnets[i].config.empty()) {
      require_same_file(f + ".config", loaded.controlnets[i].config, asked.controlnets[i].config);
    }
  }
  if (asked.compute) {
    const ipa::ComputeOptions have = loaded.compute.value_or(ipa::ComputeOptions{});
    if (asked.compute->threads != have.threads || asked.compute->precision != have.precision ||
        asked.compute->device != have.device) {
      throw ipa::Error(
          std::string("threads, precision, device: the engine was loaded with threads ") +
          std::to_string(have.threads) + ", precision " + ipa::precision_name(have.precision) +
          ", device " + have.device + " (compute settings are fixed when the engine loads)");
    }
  }
}

std::string describe(const ipa::EngineInfo& info) {
  nlohmann::json j = {{"family", ipa::family_name(info.family)},
                      {"base", info.base},
                      {"pipeline_class", info.pipeline_class},
                      {"scheduler_class", info.scheduler_class},
                      {"default_width", info.default_width},
                      {"default_height", info.default_height},
                      {"default_cfg", info.default_cfg},
                      {"unet_in_channels", info.unet_in_channels},
                      {"threads", info.compute.threads},
                      {"precision", ipa::precision_name(info.compute.precision)},
                      {"device", info.compute.device},
                      {"controlnets", info.controlnets},
                      {"adapters", nlohmann::json::array()}};
  for (const ipa::AdapterDescription& a : info.adapters) {
    j["adapters"].push_back({{"file", a.file},
                             {"image_encoder", a.image_encoder},
                             {"variant", a.variant},
                             {"tokens_per_image", a.tokens_per_image},
                             {"width", a.width}});
  }
  return j.dump();
}

}  // namespace

extern "C" {

const char* ipadapter_version(void) {
  return IPA_VERSION;
}

const char* ipadapter_status_name(ipadapter_status status) {
  switch (status) {
    case IPADAPTER_OK:
      return "ok";
    case IPADAPTER_ERROR:
      return "error";
    case IPADAPTER_CANCELLED:
      return "cancelled";
    case IPADAPTER_OUT_OF_MEMORY:
      return "out of memory";
  }
  return "unknown status";
}

const char* ipadapter_last_error(void) {
  return last_error_lost ? "out of memory (the error message could not be stored)"
                         : last_error.c_str();
}

ipadapter_engine_params ipadapter_engine_default_params(void) {
  ipadapter_engine_params p;
  p.root = nullptr;
  p.one_shot = false;
  p.log = nullptr;
  p.log_user = nullptr;
  return p;
}

ipadapter_engine* ipadapter_engine_load(const char* request_json,
                                        const ipadapter_engine_params* params) {
  std::unique_ptr<ipadapter_engine> e;
  const ipadapter_status s = guarded([&] {
    require(request_json != nullptr, "ipadapter_engine_load: request_json is NULL");
    const ipadapter_engine_params p = params ? *params : ipadapter_engine_default_params();
    e = std::make_unique<ipadapter_engine>();
    e->root = p.root ? p.root : "";
    e->log = p.log;
    e->log_user = p.log_user;
    e->loaded = ipa::parse_request_json(request_json, load_sources(e->root));
    if (e->loaded.base.empty()) throw ipa::Error("base: is required (the base model folder)");
    ipa::EngineOptions o = e->loaded.engine_options();
    o.one_shot = p.one_shot;
    o.log = e->log_fn();
    e->loaded.request = {};  // only the models are kept
    e->engine = ipa::Engine::load(o);
    e->info_json = describe(e->engine->info());
  });
  return s == IPADAPTER_OK ? e.release() : nullptr;
}

void ipadapter_engine_free(ipadapter_engine* engine) {
  delete engine;
}

const char* ipadapter_engine_info_json(const ipadapter_engine* engine) {
  if (!engine) {
    fail(IPADAPTER_ERROR, "ipadapter_engine_info_json: engine is NULL");
    return nullptr;
  }
  return engine->info_json.c_str();
}

ipadapter_generate_params ipadapter_generate_default_params(void) {
  ipadapter_generate_params p;
  p.progress = nullptr;
  p.progress_user = nullptr;
  return p;
}

ipadapter_status ipadapter_generate(ipadapter_engine* engine, const char* request_json,
                                    const ipadapter_generate_params* params,
                                    ipadapter_result** result) {
  if (result) *result = nullptr;
  return guarded([&] {
    require(engine != nullptr, "ipadapter_generate: engine is NULL");
    require(request_json != nullptr, "ipadapter_generate: request_json is NULL");
    require(result != nullptr, "ipadapter_generate: result is NULL");
    const ipadapter_generate_params p = params ? *params : ipadapter_generate_default_params();
    ipa::ParsedRequest pr =
        ipa::parse_request_json(request_json, ipa::file_request_sources(engine->root));
    check_same_models(engine->loaded, pr);
    ipa::Callbacks callbacks;
    if (p.progress) {
      callbacks.on_step = [&p](const ipa::StepProgress& s) {
        return p.progress(s.step, s.total, p.progress_user);
      };
    }
    callbacks.on_log = engine->log_fn();
    ipa::GenerateResult res = engine->engine->generate(pr.request, callbacks);
    auto out = std::make_unique<ipadapter_result>();
    out->parameters = ipa::generation_parameters(engine->engine->info(), pr.request, res);
    out->images = std::move(res.images);
    *result = out.release();
  });
}

int ipadapter_result_count(const ipadapter_result* result) {
  return result ? static_cast<int>(result->images.size()) : 0;
}

ipadapter_image ipadapter_result_image(const ipadapter_result* result, int index) {
  if (!result || index < 0 || index >= ipadapter_result_count(result)) return {0, 0, nullptr};
  const ipa::image::Image& img = result->images[static_cast<size_t>(index)];
  return {img.width, img.height, img.rgb.data()};
}

const char* ipadapter_result_parameters(const ipadapter_result* result) {
  return result ? result->parameters.c_str() : "";
}

ipadapter_status ipadapter_result_write_png(const ipadapter_result* result, int index,
                                            const char* path) {
  return guarded([&] {
    require(result != nullptr, "ipadapter_result_write_png: result is NULL");
    require(path != nullptr, "ipadapter_result_write_png: path is NULL");
    if (index < 0 || index >= ipadapter_result_count(result)) {
      throw ipa::Error("ipadapter_result_write_png: no image " + std::to_string(index) +
                       " (the result has " + std::to_string(ipadapter_result_count(result)) + ")");
    }
    ipa::write_png(path, result->images[static_cast<size_t>(index)],
                   {{"parameters", result->parameters}});
  });
}

void ipadapter_result_free(ipadapter_result* result) {
  delete result;
}

}  // extern "C"
