// Unicode helpers for the tokenizer: strict UTF-8 coding and the character properties,
// normalisation and case mapping that Python's `str` / `unicodedata` provide upstream. All
// properties come from ICU, never from hand-made tables.
#pragma once
#include <string>
#include <string_view>

namespace ipa::text {

// Strict UTF-8 → code points. Malformed input (bad lead/continuation bytes, overlong forms,
// surrogates, > U+10FFFF) throws ipa::Error naming `what` and the byte offset.
std::u32string utf8_to_u32(std::string_view s, std::string_view what = "text");
void append_utf8(std::string& out, char32_t c);
std::string u32_to_utf8(std::u32string_view s);
// Lenient UTF-8 decoding for byte strings we produced ourselves (decoded BPE tokens): each
// malformed sequence becomes U+FFFD, like Python's bytes.decode(errors="replace").
std::string utf8_replace_invalid(std::string_view bytes);

// Python str.isspace(): general category Zs or bidi class WS, B or S.
bool is_python_space(char32_t c);
// The Unicode White_Space property (the `\s` of the `regex` module).
bool is_white_space(char32_t c);
bool is_letter(char32_t c);           // \p{L}
bool is_number(char32_t c);           // \p{N}
bool is_other_category(char32_t c);   // general category C* (Cc, Cf, Cs, Co, Cn)
bool is_space_separator(char32_t c);  // Zs
// Major Unicode version in which the code point was assigned (0 when unassigned).
int unicode_age_major(char32_t c);
// Simple case folding (what a case-insensitive regex compares).
char32_t fold_case(char32_t c);

// Unicode NFC.
std::u32string nfc(std::u32string_view s);
// Full, locale-independent lower-casing with the Final_Sigma rule (Python str.lower()).
std::u32string to_lower(std::u32string_view s);

}  // namespace ipa::text
