#include "base/error.h"

namespace ipa {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string Error::compose(const std::string& message, const std::string& file,
                           const std::string& key) {
  std::string s;
  if (!file.empty()) s += file + ": ";
  if (!key.empty()) s += "tensor '" + key + "': ";
  return s + message;
}

Error Error::shape_mismatch(const std::string& file, const std::string& key,
                            const std::vector<int64_t>& expected,
                            const std::vector<int64_t>& actual) {
  return Error("expected shape " + shape_str(expected) + ", got " + shape_str(actual), file, key);
}

}  // namespace ipa
