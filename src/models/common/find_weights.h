// Locating the weights file of a save_pretrained folder (config.json + one weights file).
#pragma once
#include <string>
#include <vector>

namespace ipa {

// The first of `candidates` (file names, tried in order) that exists in `dir`. Throws
// ipa::Error naming the folder and every name tried when none does.
std::string find_weights_file(const std::string& dir, const std::vector<std::string>& candidates);

}  // namespace ipa
