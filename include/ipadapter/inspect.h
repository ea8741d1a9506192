// ipadapter.cpp public API: what a checkpoint file or model folder is (`ipadapter inspect`).
#pragma once
#include <string>

namespace ipa {

enum class InspectFormat { Text, Json };

// Tensors, dtypes, shapes, and what the file or folder is (an IP-Adapter's variant, tokens and
// widths; a pipeline folder's parts). `path` may be a Hugging Face repo id (+ path inside the
// repo) found in the local hub cache at `revision` (EngineOptions::revision). Throws ipa::Error
// for an unreadable path.
std::string inspect_model(const std::string& path, InspectFormat format, bool list_tensors,
                          const std::string& revision = "");

}  // namespace ipa
