#include "text/byte_bpe.h"

#include <array>
#include <climits>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "text/unicode_util.h"

namespace ipa::text {
namespace {

// transformers reads at most this many merges (49152 BPE vocabulary − 256 bytes − 2 markers),
// whatever the file holds.
constexpr size_t kMaxMerges = 49152 - 256 - 2;

// Highest character of the table: U+0100 + the 68 non-printable bytes − 1.
constexpr char32_t kLastByteChar = 0x143;

struct ByteTable {
  std::array<char32_t, 256> to_char{};
  std::array<std::string, 256> to_utf8;
  std::array<int, kLastByteChar + 1> from_char{};  // -1: not a byte character
};

// GPT-2's table: printable Latin-1 bytes stand for themselves, the other 68 bytes get
// U+0100, U+0101, ... in byte order, so no byte maps to whitespace or a control character.
const ByteTable& byte_table() {
  static const ByteTable table = [] {
    ByteTable t;
    t.from_char.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      t.to_char[b] = printable ? static_cast<char32_t>(b) : next++;
      append_utf8(t.to_utf8[b], t.to_char[b]);
      t.from_char[t.to_char[b]] = b;
    }
    return t;
  }();
  return table;
}

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::vector<std::string_view> split_ascii_whitespace(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_ascii_space(s[i])) ++i;
    size_t end = i;
    while (end < s.size() && !is_ascii_space(s[end])) ++end;
    if (end > i) parts.push_back(s.substr(i, end - i));
    i = end;
  }
  return parts;
}

std::string pair_key(std::string_view a, std::string_view b) {
  std::string key;
  key.reserve(a.size() + b.size() + 1);
  key.append(a).push_back(' ');
  key.append(b);
  return key;
}

// Streams vocab.json ({"token": id, ...}) straight into the maps: building the JSON tree of
// 49k entries first would cost several times more.
class VocabReader : public nlohmann::json::json_sax_t {
 public:
  VocabReader(std::unordered_map<std::string, int64_t>* vocab,
              std::unordered_map<int64_t, std::string>* tokens)
      : vocab_(vocab), tokens_(tokens) {}
  std::string error;

  bool start_object(std::size_t) override { return ++depth_ == 1 || fail("nested object"); }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool number_integer(number_integer_t v) override { return add(v); }
  bool number_unsigned(number_unsigned_t v) override {
    return v <= static_cast<number_unsigned_t>(INT32_MAX) ? add(static_cast<int64_t>(v)) : add(-1);
  }
  bool number_float(number_float_t, const string_t& s) override { return bad_value(s); }
  bool null() override { return bad_value("null"); }
  bool boolean(bool) override { return bad_value("a boolean"); }
  bool string(string_t& s) override { return bad_value("\"" + s + "\""); }
  bool binary(binary_t&) override { return bad_value("binary data"); }
  bool start_array(std::size_t) override {
    return depth_ == 0 ? fail("expected an object of token → id, got a list") : bad_value("a list");
  }
  bool end_array() override { return true; }
  bool parse_error(std::size_t pos, const std::string&,
                   const nlohmann::json::exception& e) override {
    return fail("not valid JSON at byte " + std::to_string(pos) + ": " + e.what());
  }

 private:
  bool add(int64_t id) {
    if (depth_ != 1) return fail("expected an object of token → id");
    if (id < 0 || id > INT32_MAX) return bad_value(std::to_string(id));
    (*vocab_)[key_] = id;
    (*tokens_)[id] = key_;
    return true;
  }
  bool bad_value(const std::string& what) {
    if (depth_ != 1) return fail("expected an object of token → id");
    return fail("token '" + key_ + "' has id " + what + " (expected a non-negative integer)");
  }
  bool fail(const std::string& message) {
    if (error.empty()) error = message;
    return false;
  }
  std::unordered_map<std::string, int64_t>* vocab_;
  std::unordered_map<int64_t, std::string>* tokens_;
  std::string key_;
  int depth_ = 0;
};

}  // namespace

char32_t ByteBpe::byte_to_char(uint8_t b) {
  return byte_table().to_char[b];
}

int ByteBpe::char_to_byte(char32_t c) {
  return c <= kLastByteChar ? byte_table().from_char[c] : -1;
}

ByteBpe ByteBpe::parse(std::string_view vocab_json, std::string_view merges_txt,
                       const std::string& source) {
  ByteBpe m;
  VocabReader reader(&m.vocab_, &m.tokens_);
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(vocab_json, &reader);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("vocab.json is not valid JSON: ") + e.what(), source);
  }
  if (!reader.error.empty()) throw Error("vocab.json: " + reader.error, source);
  if (!ok) throw Error("vocab.json is not valid JSON", source);
  if (m.vocab_.empty()) throw Error("vocab.json must be a non-empty object of token → id", source);

  // Like transformers: strip the whole file, split into lines, drop the header line.
  size_t begin = 0, end = merges_txt.size();
  while (begin < end && is_ascii_space(merges_txt[begin])) ++begin;
  while (end > begin && is_ascii_space(merges_txt[end - 1])) --end;
  std::string_view body = merges_txt.substr(begin, end - begin);
  size_t pos = body.find('\n');
  body = pos == std::string_view::npos ? std::string_view() : body.substr(pos + 1);
  int rank = 0;
  while (!body.empty() && m.merge_count_ < kMaxMerges) {
    pos = body.find('\n');
    const std::string_view line = body.substr(0, pos);
    body = pos == std::string_view::npos ? std::string_view() : body.substr(pos + 1);
    const auto parts = split_ascii_whitespace(line);
    // A line that is not a pair still takes a rank but can never match, as upstream.
    if (parts.size() == 2) m.ranks_[pair_key(parts[0], parts[1])] = rank;
    ++rank;
    ++m.merge_count_;
  }
  return m;
}

std::vector<std::string> ByteBpe::bpe(std::string_view word) const {
  std::vector<std::string> symbols;
  if (word.empty()) return symbols;
  const auto& table = byte_table();
  symbols.reserve(word.size());
  for (char c : word) symbols.push_back(table.to_utf8[static_cast<uint8_t>(c)]);
  symbols.back() += "</w>";

  while (symbols.size() > 1) {
    int best_rank = INT_MAX;
    size_t best = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = ranks_.find(pair_key(symbols[i], symbols[i + 1]));
      if (it != ranks_.end() && it->second < best_rank) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best_rank == INT_MAX) break;
    // Merge every occurrence of the best pair, left to right, without overlaps.
    const std::string first = symbols[best], second = symbols[best + 1];
    std::vector<std::string> merged;
    merged.reserve(symbols.size());
    for (size_t i = 0; i < symbols.size();) {
      if (i + 1 < symbols.size() && symbols[i] == first && symbols[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(std::move(symbols[i]));
        ++i;
      }
    }
    symbols = std::move(merged);
  }
  return symbols;
}

std::optional<int64_t> ByteBpe::find(const std::string& token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string& ByteBpe::token_of(int64_t id) const {
  static const std::string kEmpty;
  auto it = tokens_.find(id);
  return it == tokens_.end() ? kEmpty : it->second;
}

}  // namespace ipa::text
