// The `--models` folder: every path a client names is resolved inside it, and refused when it
// leaves it — by `..`, by an absolute path or through a symbolic link.
#pragma once
#include <filesystem>
#include <string>

namespace ipa::server {

class ModelRoot {
 public:
  // Throws ipa::Error when `folder` is not an existing folder.
  explicit ModelRoot(const std::string& folder);

  const std::filesystem::path& path() const { return root_; }

  // A client's relative path → the canonical file or folder (symbolic links followed) inside
  // the root. Throws ipa::Error naming `field` for an empty or absolute path, one that does not
  // exist, or one whose canonical form is outside the root.
  std::string resolve(const std::string& relative, const std::string& field) const;

  // The path relative to the root, for answers (never an absolute server path).
  std::string relative(const std::filesystem::path& inside) const;

 private:
  std::filesystem::path root_;  // canonical
};

}  // namespace ipa::server
