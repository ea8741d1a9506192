// The released models' configs (the repository's configs/ folder, compiled in): what a
// single-file checkpoint or ControlNet, which ships no config, is read with by default.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ipa {

// The text of configs/<name> (e.g. "controlnet_sd15/config.json"), or nullptr.
const char* builtin_config_text(const std::string& name);
std::vector<std::string> builtin_config_names();

// Parsed; throws ipa::Error naming `name` when there is no such config.
nlohmann::json builtin_config(const std::string& name);

}  // namespace ipa
