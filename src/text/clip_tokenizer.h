// CLIP tokenizer with the semantics of transformers' CLIPTokenizer (the Python "slow" one that
// diffusers uses) in an environment without ftfy:
//   prompt → split on special/added tokens → BasicTokenizer-style cleaning + lower-casing →
//   CLIP regex words → byte-level BPE → ids; then <bos> ids <eos>, truncated to
//   model_max_length (keeping <eos> last) and padded with the pad token.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace ipa {

namespace text {
class ByteBpe;
}

// Special tokens and sequence length, as tokenizer_config.json / special_tokens_map.json say.
struct ClipTokenizerConfig {
  std::string bos_token = "<|startoftext|>";
  std::string eos_token = "<|endoftext|>";
  std::string unk_token = "<|endoftext|>";
  std::string pad_token = "<|endoftext|>";  // SDXL's tokenizer_2 uses "!"
  std::vector<std::string> additional_special_tokens;
  // Tokens with fixed ids from `added_tokens_decoder` / added_tokens.json (textual inversion).
  std::vector<std::pair<std::string, int64_t>> added_tokens;
  int64_t model_max_length = 77;

  // Reads tokenizer_config.json and special_tokens_map.json in `dir` (both optional; the map
  // overrides the config, as in transformers) and added_tokens.json when present. A missing
  // or absurdly large model_max_length means 77, CLIP's context length.
  static ClipTokenizerConfig from_folder(const std::string& dir);
  // SDXL's second tokenizer: like the first but padding with "!" (id 0).
  static ClipTokenizerConfig sdxl_tokenizer_2();
};

// What happened to one prompt.
struct TokenizeInfo {
  size_t prompt_tokens = 0;   // BPE tokens of the prompt (no bos/eos), before truncation
  size_t dropped_tokens = 0;  // tokens cut off to fit model_max_length
  size_t length = 0;          // bos + kept tokens + eos = the ones of the attention mask
  std::string dropped_text;   // the cut-off part, decoded, for the user's warning
  bool truncated() const { return dropped_tokens > 0; }
};

class ClipTokenizer {
 public:
  // A `tokenizer/` folder: vocab.json, merges.txt and the optional config files.
  static ClipTokenizer from_folder(const std::string& dir);
  static ClipTokenizer from_files(const std::string& vocab_json_path,
                                  const std::string& merges_txt_path,
                                  const ClipTokenizerConfig& config);
  // openai/CLIP's vocabulary compiled into the program (the one of SD1.5 and SDXL).
  static ClipTokenizer builtin(const ClipTokenizerConfig& config = {});

  // model_max_length ids: <bos> tokens <eos> <pad>...; `info` (optional) reports truncation.
  std::vector<int64_t> encode(const std::string& text, TokenizeInfo* info = nullptr) const;
  // I64 [texts.size(), model_max_length].
  Tensor encode_batch(const std::vector<std::string>& texts,
                      std::vector<TokenizeInfo>* infos = nullptr) const;
  // The prompt's token ids without <bos>/<eos>, untruncated. Throws ipa::Error on invalid UTF-8.
  std::vector<int64_t> tokenize(const std::string& text) const;
  // Ids back to text (byte-level decode, `</w>` → space, invalid UTF-8 → U+FFFD).
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t unk_id() const { return unk_id_; }
  int64_t max_length() const { return max_length_; }
  size_t vocab_size() const;

 private:
  ClipTokenizer(std::shared_ptr<const text::ByteBpe> bpe, const ClipTokenizerConfig& config,
                const std::string& source);
  int64_t special_id(const std::string& token, const char* role, const std::string& source) const;
  void tokenize_chunk(std::u32string_view chunk, std::vector<int64_t>* ids) const;

  std::shared_ptr<const text::ByteBpe> bpe_;
  // Strings split off before cleaning (special and added tokens), with their ids.
  std::vector<std::pair<std::u32string, int64_t>> split_tokens_;
  std::vector<std::pair<std::string, int64_t>> added_tokens_;
  int64_t bos_id_ = 0, eos_id_ = 0, pad_id_ = 0, unk_id_ = 0, max_length_ = 77;
};

}  // namespace ipa
