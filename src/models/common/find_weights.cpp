#include "models/common/find_weights.h"

#include <filesystem>

#include "base/error.h"

namespace ipa {

std::string find_weights_file(const std::string& dir, const std::vector<std::string>& candidates) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) throw Error("not a model folder (expected a directory)", dir);
  std::string tried;
  for (const auto& name : candidates) {
    const fs::path p = fs::path(dir) / name;
    if (fs::is_regular_file(p)) return p.string();
    tried += (tried.empty() ? "" : ", ") + name;
  }
  throw Error("no weights file found (looked for " + tried + ")", dir);
}

}  // namespace ipa
