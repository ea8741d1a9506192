// Reading JSON config files with errors that name the file and the key.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"

namespace ipa {

nlohmann::json read_json_file(const std::string& path);

// j[key] as T, `fallback` when absent or null; a value of the wrong type is an error naming
// the file and key.
template <typename T>
T json_value(const nlohmann::json& j, const std::string& key, const T& fallback,
             const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->template get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error("config key '" + key + "' has an unexpected type (" + it->dump() + ")", path);
  }
}

// j[key] as T; absent is an error.
template <typename T>
T json_require(const nlohmann::json& j, const std::string& key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) throw Error("config key '" + key + "' is missing", path);
  try {
    return it->template get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error("config key '" + key + "' has an unexpected type (" + it->dump() + ")", path);
  }
}

// A full CLIPModel config keeps each tower's settings under `section` ("text_config",
// "vision_config"); like transformers, read only that object then, else the root.
inline const nlohmann::json& config_section(const nlohmann::json& root,
                                            const std::string& section) {
  const auto it = root.find(section);
  return it != root.end() && it->is_object() ? *it : root;
}

// A size read from a config must be positive: an error naming the file and key otherwise.
inline void require_positive(const std::string& key, int64_t value, const std::string& path) {
  if (value <= 0) {
    throw Error("config key '" + key + "' must be positive, got " + std::to_string(value), path);
  }
}

}  // namespace ipa
