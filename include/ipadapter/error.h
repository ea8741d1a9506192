// ipadapter.cpp public API: the one error type of the project — a message a user can act on,
// with the file, the tensor key and the expected / actual shape where they apply. Every
// function of the API reports failure by throwing ipa::Error (or ipa::Cancelled, below).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ipa {

std::string shape_str(const std::vector<int64_t>& shape);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
  Error(const std::string& message, std::string file, std::string key = {})
      : std::runtime_error(compose(message, file, key)),
        file_(std::move(file)),
        key_(std::move(key)) {}

  const std::string& file() const { return file_; }
  const std::string& key() const { return key_; }

  // "<file>: tensor '<key>': expected shape [a, b], got [c, d]"
  static Error shape_mismatch(const std::string& file, const std::string& key,
                              const std::vector<int64_t>& expected,
                              const std::vector<int64_t>& actual);

 private:
  static std::string compose(const std::string& message, const std::string& file,
                             const std::string& key);
  std::string file_, key_;
};

// Thrown out of Engine::generate when a progress callback asked to stop. The engine stays
// usable: nothing it holds was changed by the cancelled call.
class Cancelled : public Error {
 public:
  explicit Cancelled(const std::string& message) : Error(message) {}
};

}  // namespace ipa
