// Shared by the families' text stages: a tokenizer from a base model's folder (or the built-in
// vocabulary), and prompt → ids with a warning when the prompt is cut.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "text/clip_tokenizer.h"

namespace ipa {

// `dir` = "" → the built-in CLIP vocabulary with `fallback`'s special tokens.
ClipTokenizer open_tokenizer(const std::string& dir, const ClipTokenizerConfig& fallback,
                             const std::function<void(const std::string&)>& log);

// [1, max_length] I64 ids; warns through `warn` (naming `what`) when the text was truncated.
Tensor token_ids(const ClipTokenizer& tokenizer, const std::string& text, const std::string& what,
                 const std::function<void(const std::string&)>& warn);

}  // namespace ipa
