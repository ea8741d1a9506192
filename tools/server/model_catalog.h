// `GET /v1/models`: what `ipadapter inspect` says of each model under the models folder —
// diffusers pipelines (model_index.json), model folders (config.json: image encoders,
// ControlNets, UNets) and weight files (IP-Adapters, checkpoints). Paths are relative to the
// folder; the scan is bounded in depth and count and cached until a refresh.
#pragma once
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "model_root.h"

namespace ipa::server {

class ModelCatalog {
 public:
  explicit ModelCatalog(const ModelRoot& root) : root_(root) {}

  // {"models": [{"path": ..., "kind": ..., ...}, ...], "truncated": bool}
  nlohmann::json list(bool refresh);

 private:
  nlohmann::json scan() const;
  const ModelRoot& root_;
  std::mutex mutex_;
  std::optional<nlohmann::json> cached_;
};

}  // namespace ipa::server
