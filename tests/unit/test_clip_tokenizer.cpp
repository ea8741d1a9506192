// The tokenizer's parts on hand-made inputs: UTF-8 coding, the no-ftfy cleaner, CLIP's word
// pattern, byte-level BPE on a tiny vocabulary, configs, truncation and malformed files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "base/error.h"
#include "test_support.h"
#include "text/byte_bpe.h"
#include "text/clip_pretokenize.h"
#include "text/clip_tokenizer.h"
#include "text/unicode_util.h"

namespace ipa {
namespace {

using text::clean_text_basic;
using text::clip_split_words;

std::u32string u32(const char* utf8) {
  return text::utf8_to_u32(utf8);
}
std::string utf8(const std::u32string& s) {
  return text::u32_to_utf8(s);
}

std::vector<std::string> words(const char* utf8_text) {
  std::vector<std::string> out;
  for (const auto& w : clip_split_words(u32(utf8_text))) out.push_back(utf8(w));
  return out;
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

TEST(Utf8, RoundTripsAndRejectsMalformedInput) {
  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x90\xB1";  // a é € 🐱
  EXPECT_EQ(u32(s.c_str()), (std::u32string{U'a', 0xE9, 0x20AC, 0x1F431}));
  EXPECT_EQ(text::u32_to_utf8(u32(s.c_str())), s);
  for (const std::string bad : {"\x80", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80",
                                "\xF4\x90\x80\x80", "\xC3", "\xE2\x82", "\xFF"}) {
    EXPECT_THROW(text::utf8_to_u32(bad), Error) << "bytes of length " << bad.size();
  }
  // Lenient decoding: one U+FFFD per maximal invalid part.
  EXPECT_EQ(text::utf8_replace_invalid("a\xE2\x82z\xFF"), "a\xEF\xBF\xBDz\xEF\xBF\xBD");
}

TEST(CleanTextBasic, DropsControlsAndNormalisesWhitespace) {
  EXPECT_EQ(utf8(clean_text_basic(U"  a\tb\nc\rd  ")), "a b c d");
  // Zero-width space (Cf), BEL (Cc), U+FFFD and NUL vanish without splitting the word.
  EXPECT_EQ(utf8(clean_text_basic(std::u32string(U"ze\u200Bro\u0007x\uFFFD") + U'\0' + U"y")),
            "zeroxy");
  // No-break space (Zs) and ideographic space separate words; the line separator (Zl) too,
  // through Python's str.split().
  EXPECT_EQ(utf8(clean_text_basic(U"a\u00A0b\u3000c\u2028d")), "a b c d");
  EXPECT_EQ(utf8(clean_text_basic(U"")), "");
  EXPECT_EQ(utf8(clean_text_basic(U" \t ")), "");
}

TEST(CleanTextBasic, SpacesAroundCjkIdeographsOnly) {
  EXPECT_EQ(utf8(clean_text_basic(U"日本語のテキスト")), "日 本 語 のテキスト");
  EXPECT_EQ(utf8(clean_text_basic(U"한국어")), "한국어");
}

TEST(CleanTextBasic, NfcAndFullLowerCasing) {
  EXPECT_EQ(utf8(clean_text_basic(U"Cafe\u0301")), "caf\u00E9");          // NFC
  EXPECT_EQ(utf8(clean_text_basic(U"\u0130")), "i\u0307");                // İ → i̇
  EXPECT_EQ(utf8(clean_text_basic(U"\u039F\u0394\u039F\u03A3 \u03A3A")),  // ΟΔΟΣ ΣA
            "\u03BF\u03B4\u03BF\u03C2 \u03C3a");                          // final sigma
  EXPECT_EQ(utf8(clean_text_basic(U"\u01C5 STRASSE \uFB01")), "\u01C6 strasse \uFB01");
  // Full-width letters are lower-cased but not folded to ASCII (that is ftfy's NFKC).
  EXPECT_EQ(utf8(clean_text_basic(U"\uFF21\uFF22")), "\uFF41\uFF42");
}

TEST(ClipSplitWords, FollowsTheRegexAlternatives) {
  EXPECT_EQ(words("don't it's we've i'll she'd i'm they're"),
            (std::vector<std::string>{"don", "'t", "it", "'s", "we", "'ve", "i", "'ll", "she", "'d",
                                      "i", "'m", "they", "'re"}));
  EXPECT_EQ(words("3.14 x2"), (std::vector<std::string>{"3", ".", "1", "4", "x", "2"}));
  EXPECT_EQ(words("hello!!! ,,, a-b"),
            (std::vector<std::string>{"hello", "!!!", ",,,", "a", "-", "b"}));
  EXPECT_EQ(words("<|startoftext|>hi<|endoftext|>"),
            (std::vector<std::string>{"<|startoftext|>", "hi", "<|endoftext|>"}));
  // An other-symbol run is greedy: it swallows a following apostrophe.
  EXPECT_EQ(words("!'s"), (std::vector<std::string>{"!'", "s"}));
  EXPECT_EQ(words("'single'"), (std::vector<std::string>{"'s", "ingle", "'"}));
}

TEST(ClipSplitWords, CaseInsensitiveLiteralsAndTheYpogegrammeniQuirk) {
  // IGNORECASE: the long s folds to 's' in the contraction and the marker.
  EXPECT_EQ(words("x'\u017F"), (std::vector<std::string>{"x", "'\u017F"}));
  EXPECT_EQ(words("<|\u017Ftartoftext|>"), (std::vector<std::string>{"<|\u017Ftartoftext|>"}));
  // U+0345 matches no alternative under IGNORECASE and is skipped.
  EXPECT_EQ(words("a\u0345b"), (std::vector<std::string>{"a", "b"}));
  // Marks and emoji are "other" symbols; a letter run keeps going through letters only.
  EXPECT_EQ(words("\U0001F431\U0001F680 e\u0301"),
            (std::vector<std::string>{"\U0001F431\U0001F680", "e", "\u0301"}));
}

TEST(ByteBpe, ByteTableIsABijectionOntoPrintableCharacters) {
  std::set<char32_t> seen;
  for (int b = 0; b < 256; ++b) {
    const char32_t c = text::ByteBpe::byte_to_char(static_cast<uint8_t>(b));
    EXPECT_TRUE(seen.insert(c).second);
    EXPECT_EQ(text::ByteBpe::char_to_byte(c), b);
    EXPECT_FALSE(text::is_white_space(c)) << b;
  }
  EXPECT_EQ(text::ByteBpe::byte_to_char('a'), U'a');
  EXPECT_EQ(text::ByteBpe::byte_to_char(0), 0x100);
  EXPECT_EQ(text::ByteBpe::byte_to_char(' '), 0x120);
  EXPECT_EQ(text::ByteBpe::byte_to_char(0xAD), 0x143);
  EXPECT_EQ(text::ByteBpe::char_to_byte(0x144), -1);
}

TEST(ByteBpe, AppliesMergesLowestRankFirst) {
  const std::string vocab =
      R"({"l":0,"o":1,"w":2,"w</w>":3,"lo":4,"low</w>":5,"e":6,"r</w>":7,"er</w>":8,"ow</w>":9})";
  // "o w</w>" has a better rank than "l o": "low" goes l + ow</w>, which is not in the
  // vocabulary as a merge, so it stays two symbols.
  const std::string merges = "#version: 0.2\no w</w>\nl o\nlo w</w>\ne r</w>\n";
  const auto bpe = text::ByteBpe::parse(vocab, merges, "test");
  EXPECT_EQ(bpe.merge_count(), 4u);
  EXPECT_EQ(bpe.bpe("low"), (std::vector<std::string>{"l", "ow</w>"}));
  EXPECT_EQ(bpe.bpe("lower"), (std::vector<std::string>{"lo", "w", "er</w>"}));
  EXPECT_EQ(bpe.bpe("w"), (std::vector<std::string>{"w</w>"}));
  // Overlapping occurrences merge left to right.
  const auto aa = text::ByteBpe::parse(R"({"a":0})", "#h\na a\n", "test");
  EXPECT_EQ(aa.bpe("aaa"), (std::vector<std::string>{"aa", "a</w>"}));
  // Bytes are mapped before merging: a space byte is U+0120.
  EXPECT_EQ(aa.bpe(" "), (std::vector<std::string>{"\u0120</w>"}));
}

TEST(ByteBpe, RejectsMalformedVocabulary) {
  EXPECT_THROW(text::ByteBpe::parse("{\"a\": 1", "#v\n", "t"), Error);
  EXPECT_THROW(text::ByteBpe::parse("[1, 2]", "#v\n", "t"), Error);
  EXPECT_THROW(text::ByteBpe::parse("{}", "#v\n", "t"), Error);
  EXPECT_THROW(text::ByteBpe::parse(R"({"a": "x"})", "#v\n", "t"), Error);
  EXPECT_THROW(text::ByteBpe::parse(R"({"a": -3})", "#v\n", "t"), Error);
  // Merge lines that are not pairs are ignored (but counted), an empty file has no merges.
  const auto bpe = text::ByteBpe::parse(R"({"a": 0})", "#v\na b c\n\nx\na a</w>\n", "t");
  EXPECT_EQ(bpe.merge_count(), 4u);
  EXPECT_EQ(bpe.bpe("aa"), (std::vector<std::string>{"aa</w>"}));
  EXPECT_EQ(text::ByteBpe::parse(R"({"a": 0})", "", "t").merge_count(), 0u);
}

// A tiny tokenizer folder: single characters, a few words, the two markers and "!".
std::string tiny_folder(const std::string& tag, const std::string& config_json) {
  const std::string dir = test::temp_dir(tag);
  write_file(dir + "/vocab.json", R"({"!":0,"a":1,"b":2,"a</w>":3,"b</w>":4,"ab</w>":5,"!</w>":6,)"
                                  R"("<|startoftext|>":7,"<|endoftext|>":8})");
  write_file(dir + "/merges.txt", "#version: 0.2\na b</w>\n");
  if (!config_json.empty()) write_file(dir + "/tokenizer_config.json", config_json);
  return dir;
}

TEST(ClipTokenizer, PadsTruncatesAndReportsWhatWasDropped) {
  const ClipTokenizer tok =
      ClipTokenizer::from_folder(tiny_folder("tok_trunc", R"({"model_max_length": 5})"));
  EXPECT_EQ(tok.bos_id(), 7);
  EXPECT_EQ(tok.eos_id(), 8);
  EXPECT_EQ(tok.pad_id(), 8);
  TokenizeInfo info;
  EXPECT_EQ(tok.encode("ab", &info), (std::vector<int64_t>{7, 5, 8, 8, 8}));
  EXPECT_FALSE(info.truncated());
  EXPECT_EQ(info.length, 3u);
  EXPECT_EQ(tok.encode("ab a b ab ab", &info), (std::vector<int64_t>{7, 5, 3, 4, 8}));
  EXPECT_TRUE(info.truncated());
  EXPECT_EQ(info.prompt_tokens, 5u);
  EXPECT_EQ(info.dropped_tokens, 2u);
  EXPECT_EQ(info.length, 5u);
  EXPECT_EQ(info.dropped_text, "ab ab");
  // Unknown characters become the unk token (<|endoftext|>).
  EXPECT_EQ(tok.tokenize("c"), (std::vector<int64_t>{8}));
  EXPECT_THROW(tok.encode("a\xFF"), Error);
}

TEST(ClipTokenizer, SpecialTokensAreSplitOffBeforeCleaning) {
  const std::string dir = tiny_folder("tok_special", "");
  write_file(dir + "/special_tokens_map.json", R"({"pad_token": "!"})");
  const ClipTokenizer tok = ClipTokenizer::from_folder(dir);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.max_length(), 77);
  // "!" is the pad token, so it is cut out as id 0 instead of becoming "!</w>".
  EXPECT_EQ(tok.tokenize("ab!!"), (std::vector<int64_t>{5, 0, 0}));
  EXPECT_EQ(tok.tokenize("a<|endoftext|>b"), (std::vector<int64_t>{3, 8, 4}));
  // Upper-case markers are not special tokens but become them after lower-casing.
  EXPECT_EQ(tok.tokenize("<|ENDOFTEXT|>"), (std::vector<int64_t>{8}));
  const ClipTokenizer plain = ClipTokenizer::from_folder(tiny_folder("tok_plain", ""));
  EXPECT_EQ(plain.tokenize("ab!!"), (std::vector<int64_t>{5, 0, 6}));  // "!" "!</w>"
}

TEST(ClipTokenizerConfig, ReadsTokensLimitsAndAddedTokens) {
  const std::string dir = tiny_folder("tok_config",
                                      R"({"model_max_length": 1000000000000000019884624838656,
          "pad_token": {"__type": "AddedToken", "content": "!", "lstrip": false},
          "added_tokens_decoder": {"9": {"content": "<cat>", "special": false}}})");
  const ClipTokenizerConfig c = ClipTokenizerConfig::from_folder(dir);
  EXPECT_EQ(c.model_max_length, 77);
  EXPECT_EQ(c.pad_token, "!");
  ASSERT_EQ(c.added_tokens.size(), 1u);
  const ClipTokenizer tok = ClipTokenizer::from_folder(dir);
  EXPECT_EQ(tok.tokenize("a<cat>b"), (std::vector<int64_t>{3, 9, 4}));
  EXPECT_EQ(tok.decode({5, 9, 3}), "ab <cat>a");
}

TEST(ClipTokenizerConfig, RejectsBrokenConfigs) {
  EXPECT_THROW(ClipTokenizer::from_folder(tiny_folder("tok_bad1", R"({"model_max_length": 1})")),
               Error);
  EXPECT_THROW(ClipTokenizer::from_folder(tiny_folder("tok_bad2", R"({"pad_token": "zzz"})")),
               Error);
  EXPECT_THROW(ClipTokenizer::from_folder(tiny_folder("tok_bad3", R"({"bos_token": 3})")), Error);
  EXPECT_THROW(ClipTokenizer::from_folder(tiny_folder("tok_bad4", "{not json")), Error);
  EXPECT_THROW(ClipTokenizer::from_folder(test::temp_dir("tok_empty")), Error);
}

TEST(ClipTokenizer, BuiltinVocabularyDecodesWhatItEncodes) {
  const ClipTokenizer tok = ClipTokenizer::builtin();
  EXPECT_EQ(tok.vocab_size(), 49408u);
  EXPECT_EQ(tok.bos_id(), 49406);
  EXPECT_EQ(tok.eos_id(), 49407);
  EXPECT_EQ(tok.decode(tok.tokenize("A photo of a Cat, café 🐱!")), "a photo of a cat , café 🐱!");
}

}  // namespace
}  // namespace ipa
