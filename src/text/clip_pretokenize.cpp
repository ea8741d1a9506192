#include "text/clip_pretokenize.h"

#include <array>

#include "text/unicode_util.h"

namespace ipa::text {
namespace {

// BasicTokenizer's "Chinese character" blocks (CJK ideographs only; kana and hangul are not).
bool is_cjk_ideograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_tab_newline(char32_t c) {
  return c == U'\t' || c == U'\n' || c == U'\r';
}

// The reference ran on Python 3.11, whose unicodedata is Unicode 14.0: characters assigned
// later are "Cn" there, so the cleaner drops them (ICU knows a newer Unicode).
constexpr int kReferenceUnicodeMajor = 14;

bool dropped_by_cleaner(char32_t c) {
  if (c == 0 || c == 0xFFFD) return true;
  if (is_tab_newline(c)) return false;
  return is_other_category(c) || unicode_age_major(c) > kReferenceUnicodeMajor;
}

// U+0345 COMBINING GREEK YPOGEGRAMMENI folds to the letter ι, so under IGNORECASE the `regex`
// module matches it neither as [\p{L}] nor as [^\s\p{L}\p{N}]: findall skips it. It is the only
// code point whose case variants cross the letter / number / other classes.
constexpr char32_t kYpogegrammeni = 0x0345;

bool is_other_symbol(char32_t c) {
  return !is_white_space(c) && !is_letter(c) && !is_number(c) && c != kYpogegrammeni;
}

// Case-insensitive match of an ASCII-lower-case literal at text[pos].
bool matches_at(std::u32string_view text, size_t pos, std::u32string_view literal) {
  if (text.size() - pos < literal.size()) return false;
  for (size_t k = 0; k < literal.size(); ++k) {
    if (fold_case(text[pos + k]) != literal[k]) return false;
  }
  return true;
}

}  // namespace

std::u32string clean_text_basic(std::u32string_view text) {
  std::u32string cleaned;
  cleaned.reserve(text.size());
  for (char32_t c : text) {
    if (dropped_by_cleaner(c)) continue;
    if (c == U' ' || is_tab_newline(c) || is_space_separator(c)) {
      cleaned.push_back(U' ');
    } else if (is_cjk_ideograph(c)) {
      cleaned.push_back(U' ');
      cleaned.push_back(c);
      cleaned.push_back(U' ');
    } else {
      cleaned.push_back(c);
    }
  }
  const std::u32string normalized = nfc(cleaned);

  // Lower-case word by word (Final_Sigma looks only inside a word, as Python's per-word
  // str.lower() does) and join with single spaces.
  std::u32string out;
  size_t i = 0;
  while (i < normalized.size()) {
    while (i < normalized.size() && is_python_space(normalized[i])) ++i;
    size_t end = i;
    while (end < normalized.size() && !is_python_space(normalized[end])) ++end;
    if (end > i) {
      if (!out.empty()) out.push_back(U' ');
      out += to_lower(std::u32string_view(normalized).substr(i, end - i));
    }
    i = end;
  }
  return out;
}

std::vector<std::u32string> clip_split_words(std::u32string_view text) {
  static constexpr std::array<std::u32string_view, 9> kLiterals = {
      kClipStartMarker, kClipEndMarker, U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};
  std::vector<std::u32string> words;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = i;
    for (std::u32string_view lit : kLiterals) {
      if (matches_at(text, i, lit)) {
        end = i + lit.size();
        break;
      }
    }
    if (end == i) {
      const char32_t c = text[i];
      if (is_letter(c)) {
        while (end < text.size() && is_letter(text[end])) ++end;
      } else if (is_number(c)) {
        end = i + 1;
      } else if (is_other_symbol(c)) {
        while (end < text.size() && is_other_symbol(text[end])) ++end;
      }
    }
    if (end == i) {
      ++i;  // whitespace (or U+0345): not part of any word
      continue;
    }
    words.emplace_back(text.substr(i, end - i));
    i = end;
  }
  return words;
}

}  // namespace ipa::text
