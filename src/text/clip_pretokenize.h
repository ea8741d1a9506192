// The text side of the CLIP tokenizer, before byte-level BPE: the cleaning transformers'
// CLIPTokenizer applies when ftfy is not installed (the usual diffusers environment), and the
// split into words by CLIP's regular expression.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace ipa::text {

// transformers' fallback cleaner, BasicTokenizer(strip_accents=False, do_split_on_punc=False):
// drop NUL, U+FFFD and category-C characters (except \t \n \r), map \t \n \r and Zs to a space,
// put spaces around CJK ideographs, NFC, split on Python whitespace, lower-case each word and
// join the words with single spaces.
std::u32string clean_text_basic(std::u32string_view text);

// CLIP's pattern, matched case-insensitively (regex.IGNORECASE):
//   <|startoftext|> | <|endoftext|> | 's|'t|'re|'ve|'m|'ll|'d | [\p{L}]+ | [\p{N}] |
//   [^\s\p{L}\p{N}]+
// Returns the matches in order; characters no alternative matches (whitespace) are skipped.
std::vector<std::u32string> clip_split_words(std::u32string_view text);

// The two marker strings CLIP's pattern and BPE cache treat as whole words.
inline constexpr std::u32string_view kClipStartMarker = U"<|startoftext|>";
inline constexpr std::u32string_view kClipEndMarker = U"<|endoftext|>";

}  // namespace ipa::text
