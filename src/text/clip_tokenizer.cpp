#include "text/clip_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "base/error.h"
#include "formats/json_file.h"
#include "text/byte_bpe.h"
#include "text/clip_pretokenize.h"
#include "text/embedded_data.h"
#include "text/unicode_util.h"

namespace ipa {
namespace {

namespace fs = std::filesystem;

// A model_max_length above this is transformers' "no limit" placeholder (1e30).
constexpr double kNoLimitThreshold = 1e6;
constexpr int64_t kClipContextLength = 77;

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open tokenizer file", path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A token entry is either "text" or an AddedToken object {"content": "text", ...}.
std::string token_content(const nlohmann::json& v, const std::string& key,
                          const std::string& path) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  throw Error("tokenizer key '" + key + "' is neither a string nor {\"content\": ...}", path);
}

void apply_token_keys(const nlohmann::json& j, const std::string& path, ClipTokenizerConfig* c) {
  const std::pair<const char*, std::string*> keys[] = {{"bos_token", &c->bos_token},
                                                       {"eos_token", &c->eos_token},
                                                       {"unk_token", &c->unk_token},
                                                       {"pad_token", &c->pad_token}};
  for (const auto& [key, field] : keys) {
    auto it = j.find(key);
    if (it != j.end() && !it->is_null()) *field = token_content(*it, key, path);
  }
  auto extra = j.find("additional_special_tokens");
  if (extra != j.end() && !extra->is_null()) {
    if (!extra->is_array())
      throw Error("tokenizer key 'additional_special_tokens' must be a list", path);
    c->additional_special_tokens.clear();
    for (const auto& t : *extra)
      c->additional_special_tokens.push_back(token_content(t, "additional_special_tokens", path));
  }
}

void add_fixed_token(ClipTokenizerConfig* c, const std::string& content, int64_t id) {
  for (auto& [text, known_id] : c->added_tokens) {
    if (text == content) {
      known_id = id;
      return;
    }
  }
  c->added_tokens.emplace_back(content, id);
}

}  // namespace

ClipTokenizerConfig ClipTokenizerConfig::from_folder(const std::string& dir) {
  ClipTokenizerConfig c;
  const std::string config_path = (fs::path(dir) / "tokenizer_config.json").string();
  if (fs::exists(config_path)) {
    const nlohmann::json j = read_json_file(config_path);
    if (!j.is_object()) throw Error("tokenizer config must be a JSON object", config_path);
    apply_token_keys(j, config_path, &c);
    auto len = j.find("model_max_length");
    if (len != j.end() && !len->is_null()) {
      if (!len->is_number()) throw Error("model_max_length must be a number", config_path);
      const double v = len->get<double>();
      if (v < 2) {
        throw Error("model_max_length " + len->dump() + " leaves no room for <bos> and <eos>",
                    config_path);
      }
      c.model_max_length = v > kNoLimitThreshold ? kClipContextLength : static_cast<int64_t>(v);
    }
    auto decoder = j.find("added_tokens_decoder");
    if (decoder != j.end() && decoder->is_object()) {
      for (const auto& [id_text, entry] : decoder->items()) {
        int64_t id = -1;
        try {
          size_t used = 0;
          id = std::stoll(id_text, &used);
          if (used != id_text.size()) id = -1;
        } catch (const std::exception&) {
        }
        if (id < 0)
          throw Error("added_tokens_decoder key '" + id_text + "' is not an id", config_path);
        add_fixed_token(&c, token_content(entry, "added_tokens_decoder", config_path), id);
      }
    }
  }
  const std::string map_path = (fs::path(dir) / "special_tokens_map.json").string();
  if (fs::exists(map_path)) {
    const nlohmann::json j = read_json_file(map_path);
    if (!j.is_object()) throw Error("special tokens map must be a JSON object", map_path);
    apply_token_keys(j, map_path, &c);
  }
  const std::string added_path = (fs::path(dir) / "added_tokens.json").string();
  if (fs::exists(added_path)) {
    const nlohmann::json j = read_json_file(added_path);
    if (!j.is_object()) throw Error("added_tokens.json must map token → id", added_path);
    for (const auto& [content, id] : j.items()) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0)
        throw Error("added token '" + content + "' has id " + id.dump(), added_path);
      add_fixed_token(&c, content, id.get<int64_t>());
    }
  }
  return c;
}

ClipTokenizerConfig ClipTokenizerConfig::sdxl_tokenizer_2() {
  ClipTokenizerConfig c;
  c.pad_token = "!";
  return c;
}

ClipTokenizer ClipTokenizer::from_folder(const std::string& dir) {
  const fs::path d(dir);
  const fs::path vocab = d / "vocab.json", merges = d / "merges.txt";
  if (!fs::exists(vocab) || !fs::exists(merges)) {
    throw Error(
        "tokenizer folder needs vocab.json and merges.txt (or use the built-in CLIP "
        "vocabulary)",
        dir);
  }
  return from_files(vocab.string(), merges.string(), ClipTokenizerConfig::from_folder(dir));
}

ClipTokenizer ClipTokenizer::from_files(const std::string& vocab_json_path,
                                        const std::string& merges_txt_path,
                                        const ClipTokenizerConfig& config) {
  const std::string vocab = read_text_file(vocab_json_path);
  const std::string merges = read_text_file(merges_txt_path);
  auto bpe = std::make_shared<const text::ByteBpe>(
      text::ByteBpe::parse(vocab, merges, vocab_json_path + " / " + merges_txt_path));
  return ClipTokenizer(std::move(bpe), config, vocab_json_path);
}

ClipTokenizer ClipTokenizer::builtin(const ClipTokenizerConfig& config) {
  static const std::shared_ptr<const text::ByteBpe> bpe = [] {
    return std::make_shared<const text::ByteBpe>(text::ByteBpe::parse(
        text::inflate_blob(text::kEmbeddedClipVocab), text::inflate_blob(text::kEmbeddedClipMerges),
        "built-in CLIP vocabulary"));
  }();
  return ClipTokenizer(bpe, config, "built-in CLIP vocabulary");
}

ClipTokenizer::ClipTokenizer(std::shared_ptr<const text::ByteBpe> bpe,
                             const ClipTokenizerConfig& config, const std::string& source)
    : bpe_(std::move(bpe)), added_tokens_(config.added_tokens) {
  if (config.model_max_length < 2) {
    throw Error("model_max_length " + std::to_string(config.model_max_length) +
                    " leaves no room for <bos> and <eos>",
                source);
  }
  max_length_ = config.model_max_length;
  bos_id_ = special_id(config.bos_token, "bos_token", source);
  eos_id_ = special_id(config.eos_token, "eos_token", source);
  unk_id_ = special_id(config.unk_token, "unk_token", source);
  pad_id_ = special_id(config.pad_token, "pad_token", source);

  // Every added and special token is cut out of the prompt before cleaning (transformers'
  // added-tokens trie), which is why SDXL's pad token "!" inside a prompt becomes id 0.
  auto add_split = [&](const std::string& content, int64_t id) {
    if (content.empty()) return;
    std::u32string u = text::utf8_to_u32(content, "special token '" + content + "'");
    for (const auto& [known, known_id] : split_tokens_) {
      if (known == u) return;
    }
    split_tokens_.emplace_back(std::move(u), id);
  };
  for (const auto& [content, id] : added_tokens_) add_split(content, id);
  add_split(config.bos_token, bos_id_);
  add_split(config.eos_token, eos_id_);
  add_split(config.unk_token, unk_id_);
  add_split(config.pad_token, pad_id_);
  for (const auto& t : config.additional_special_tokens)
    add_split(t, special_id(t, "additional_special_tokens", source));
}

int64_t ClipTokenizer::special_id(const std::string& token, const char* role,
                                  const std::string& source) const {
  for (const auto& [content, id] : added_tokens_) {
    if (content == token) return id;
  }
  if (auto id = bpe_->find(token)) return *id;
  throw Error(std::string(role) + " '" + token + "' is neither in vocab.json nor an added token",
              source);
}

size_t ClipTokenizer::vocab_size() const {
  return bpe_->vocab_size();
}

void ClipTokenizer::tokenize_chunk(std::u32string_view chunk, std::vector<int64_t>* ids) const {
  const std::u32string cleaned = text::clean_text_basic(chunk);
  for (const std::u32string& word : text::clip_split_words(cleaned)) {
    // CLIP's BPE cache holds the two markers as whole tokens (no </w>).
    if (word == text::kClipStartMarker || word == text::kClipEndMarker) {
      ids->push_back(bpe_->find(text::u32_to_utf8(word)).value_or(unk_id_));
      continue;
    }
    for (const std::string& symbol : bpe_->bpe(text::u32_to_utf8(word)))
      ids->push_back(bpe_->find(symbol).value_or(unk_id_));
  }
}

std::vector<int64_t> ClipTokenizer::tokenize(const std::string& text) const {
  const std::u32string u = text::utf8_to_u32(text, "prompt");
  std::vector<int64_t> ids;
  size_t chunk_start = 0, i = 0;
  while (i < u.size()) {
    // Longest special/added token starting here.
    const std::pair<std::u32string, int64_t>* best = nullptr;
    for (const auto& st : split_tokens_) {
      if (u.compare(i, st.first.size(), st.first) == 0 &&
          (best == nullptr || st.first.size() > best->first.size()))
        best = &st;
    }
    if (best == nullptr) {
      ++i;
      continue;
    }
    if (i > chunk_start)
      tokenize_chunk(std::u32string_view(u).substr(chunk_start, i - chunk_start), &ids);
    ids.push_back(best->second);
    i += best->first.size();
    chunk_start = i;
  }
  if (chunk_start < u.size()) tokenize_chunk(std::u32string_view(u).substr(chunk_start), &ids);
  return ids;
}

std::vector<int64_t> ClipTokenizer::encode(const std::string& text, TokenizeInfo* info) const {
  const std::vector<int64_t> tokens = tokenize(text);
  const size_t room = static_cast<size_t>(max_length_ - 2);
  const size_t kept = std::min(tokens.size(), room);

  std::vector<int64_t> ids;
  ids.reserve(static_cast<size_t>(max_length_));
  ids.push_back(bos_id_);
  ids.insert(ids.end(), tokens.begin(), tokens.begin() + static_cast<ptrdiff_t>(kept));
  ids.push_back(eos_id_);
  const size_t length = ids.size();
  ids.resize(static_cast<size_t>(max_length_), pad_id_);

  if (info != nullptr) {
    info->prompt_tokens = tokens.size();
    info->dropped_tokens = tokens.size() - kept;
    info->length = length;
    info->dropped_text = info->truncated()
                             ? decode(std::vector<int64_t>(
                                   tokens.begin() + static_cast<ptrdiff_t>(kept), tokens.end()))
                             : std::string();
  }
  return ids;
}

Tensor ClipTokenizer::encode_batch(const std::vector<std::string>& texts,
                                   std::vector<TokenizeInfo>* infos) const {
  Tensor out = Tensor::empty({static_cast<int64_t>(texts.size()), max_length_}, DType::I64);
  int64_t* dst = out.data<int64_t>();
  if (infos != nullptr) infos->assign(texts.size(), TokenizeInfo{});
  for (size_t b = 0; b < texts.size(); ++b) {
    const auto ids = encode(texts[b], infos != nullptr ? &(*infos)[b] : nullptr);
    std::copy(ids.begin(), ids.end(), dst + b * static_cast<size_t>(max_length_));
  }
  return out;
}

std::string ClipTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string bytes;
  for (int64_t id : ids) {
    const std::string* added = nullptr;
    for (const auto& [content, added_id] : added_tokens_) {
      if (added_id == id) added = &content;
    }
    if (added != nullptr && !bpe_->find(*added)) {
      bytes += *added;  // not a byte-level token: its text as is
      continue;
    }
    for (char32_t c : text::utf8_to_u32(bpe_->token_of(id), "vocabulary token")) {
      const int b = text::ByteBpe::char_to_byte(c);
      if (b >= 0) {
        bytes.push_back(static_cast<char>(b));
      } else {
        text::append_utf8(bytes, c);
      }
    }
  }
  const std::string decoded = text::utf8_replace_invalid(bytes);
  std::string out;
  out.reserve(decoded.size());
  for (size_t pos = 0; pos < decoded.size();) {
    if (decoded.compare(pos, 4, "</w>") == 0) {
      out.push_back(' ');
      pos += 4;
    } else {
      out.push_back(decoded[pos++]);
    }
  }
  const size_t first = out.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  return out.substr(first, out.find_last_not_of(' ') - first + 1);
}

}  // namespace ipa
