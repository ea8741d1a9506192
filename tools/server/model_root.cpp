#include "model_root.h"

#include <system_error>

#include "ipadapter/error.h"

namespace fs = std::filesystem;

namespace ipa::server {

ModelRoot::ModelRoot(const std::string& folder) {
  std::error_code ec;
  root_ = fs::canonical(folder, ec);
  if (ec || !fs::is_directory(root_)) throw Error("--models: not a folder", folder);
}

std::string ModelRoot::resolve(const std::string& relative, const std::string& field) const {
  if (relative.empty()) throw Error(field + ": the path is empty");
  if (relative.find('\0') != std::string::npos) throw Error(field + ": the path holds a NUL");
  const fs::path p(relative);
  if (p.is_absolute() || p.has_root_name()) {
    throw Error(field + ": must be a path relative to the models folder, got '" + relative + "'");
  }
  // weakly_canonical() follows every symbolic link of the part that exists, so a link inside
  // the root that points outside is refused like `..` is.
  std::error_code ec;
  const fs::path full = fs::weakly_canonical(root_ / p, ec);
  const fs::path rel = full.lexically_relative(root_);
  if (ec || rel.empty() || *rel.begin() == "..") {
    throw Error(field + ": '" + relative + "' leaves the models folder");
  }
  if (!fs::exists(full, ec)) {
    throw Error(field + ": no such file or folder under the models folder: '" + relative + "'");
  }
  return full.string();
}

std::string ModelRoot::relative(const fs::path& inside) const {
  return inside.lexically_relative(root_).generic_string();
}

}  // namespace ipa::server
