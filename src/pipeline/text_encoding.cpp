#include "pipeline/text_encoding.h"

namespace ipa {

ClipTokenizer open_tokenizer(const std::string& dir, const ClipTokenizerConfig& fallback,
                             const std::function<void(const std::string&)>& log) {
  if (!dir.empty()) return ClipTokenizer::from_folder(dir);
  if (log) log("tokenizer: built-in CLIP vocabulary (no tokenizer folder in the base model)");
  return ClipTokenizer::builtin(fallback);
}

Tensor token_ids(const ClipTokenizer& tokenizer, const std::string& text, const std::string& what,
                 const std::function<void(const std::string&)>& warn) {
  TokenizeInfo info;
  const std::vector<int64_t> ids = tokenizer.encode(text, &info);
  if (info.truncated() && warn) {
    warn("warning: the " + what + " is longer than " + std::to_string(tokenizer.max_length()) +
         " tokens; dropped: \"" + info.dropped_text + "\"");
  }
  Tensor t = Tensor::empty({1, static_cast<int64_t>(ids.size())}, DType::I64);
  std::copy(ids.begin(), ids.end(), t.data<int64_t>());
  return t;
}

}  // namespace ipa
