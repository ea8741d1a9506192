// Byte-level BPE as CLIP uses it: each UTF-8 byte of a word maps to a printable character
// (GPT-2's bytes_to_unicode), the last symbol carries the `</w>` end-of-word suffix, and the
// merges of merges.txt apply lowest rank first.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ipa::text {

class ByteBpe {
 public:
  // vocab.json text (token → id) and merges.txt text (a header line, then "a b" per line).
  // `source` names the files in error messages.
  static ByteBpe parse(std::string_view vocab_json, std::string_view merges_txt,
                       const std::string& source);

  // The printable character standing for a byte, and back (-1 when not a byte character).
  static char32_t byte_to_char(uint8_t b);
  static int char_to_byte(char32_t c);

  // A word (UTF-8) → its BPE symbols, each the byte-mapped UTF-8 string of a vocab entry.
  std::vector<std::string> bpe(std::string_view word) const;

  std::optional<int64_t> find(const std::string& token) const;
  // Token string of an id ("" when unknown).
  const std::string& token_of(int64_t id) const;
  size_t vocab_size() const { return vocab_.size(); }
  size_t merge_count() const { return merge_count_; }

 private:
  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<int64_t, std::string> tokens_;
  std::unordered_map<std::string, int> ranks_;  // "first second" → rank
  size_t merge_count_ = 0;
};

}  // namespace ipa::text
