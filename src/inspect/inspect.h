// `ipadapter inspect`: what a file or folder is, as one JSON object (the CLI prints it as JSON
// or as text). Kinds: "ip-adapter", "sd-checkpoint" (a single-file SD model), "checkpoint",
// "diffusers-pipeline", "model", "image-encoder".
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include "ipadapter/inspect.h"

namespace ipa {

// `with_tensors` adds the tensor list (name, dtype, shape, bytes) for files.
nlohmann::ordered_json inspect_path(const std::string& path, bool with_tensors = true);

// Human-readable rendering of inspect_path's result.
std::string inspect_to_text(const nlohmann::ordered_json& report);

}  // namespace ipa
