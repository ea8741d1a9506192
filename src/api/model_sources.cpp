#include "api/model_sources.h"

#include <algorithm>

#include "weights/hf_cache.h"

namespace ipa {

namespace {

// A variant is a file-name part (model.<variant>.safetensors).
void check_variant(const std::string& v) {
  const bool ok = std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
  if (!ok || v.size() > 32) {
    throw Error("variant: '" + v +
                "' is not a weights variant name (letters, digits, '_', '-'; e.g. fp16)");
  }
}

// Resolves `*path` in place (empty stays empty) and says where a repo id was found.
void localize(std::string* path, const std::string& revision, const std::string& option,
              const LogFn& log) {
  if (path->empty()) return;
  const std::string local = resolve_model_source(*path, revision, option);
  if (local != *path && log) log(option + ": " + *path + " → " + local);
  *path = local;
}

}  // namespace

EngineOptions with_local_model_paths(EngineOptions o) {
  check_variant(o.variant);
  const std::string& r = o.revision;
  localize(&o.base, r, "base", o.log);
  localize(&o.base_config, r, "base_config", o.log);
  localize(&o.vae, r, "vae", o.log);
  localize(&o.unet, r, "unet", o.log);
  for (size_t i = 0; i < o.ip_adapters.size(); ++i) {
    const std::string field = "ip_adapters[" + std::to_string(i) + "]";
    localize(&o.ip_adapters[i].file, r, field + ".file", o.log);
    localize(&o.ip_adapters[i].image_encoder, r, field + ".image_encoder", o.log);
  }
  for (size_t i = 0; i < o.controlnets.size(); ++i) {
    const std::string field = "controlnets[" + std::to_string(i) + "]";
    localize(&o.controlnets[i].file, r, field + ".file", o.log);
    localize(&o.controlnets[i].config, r, field + ".config", o.log);
  }
  for (size_t i = 0; i < o.loras.size(); ++i) {
    localize(&o.loras[i].file, r, "loras[" + std::to_string(i) + "].file", o.log);
  }
  return o;
}

EmbedderOptions with_local_model_paths(EmbedderOptions o) {
  check_variant(o.variant);
  localize(&o.ip_adapter, o.revision, "ip_adapter", o.log);
  localize(&o.image_encoder, o.revision, "image_encoder", o.log);
  return o;
}

}  // namespace ipa
