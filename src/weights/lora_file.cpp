#include "weights/lora_file.h"

#include <cmath>
#include <map>

#include "base/error.h"

namespace ipa {

namespace {

enum class Half { kDown, kUp, kAlpha };

struct ParsedKey {
  std::string model, module, kohya_prefix, stem;
  bool flat = false;
  Half half = Half::kDown;
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
bool starts_with(const std::string& s, const std::string& head) {
  return s.compare(0, head.size(), head) == 0;
}

// Adapter types that share the kohya / PEFT prefixes but are not LoRA: named in the error.
std::string unsupported_kind(const std::string& key) {
  constexpr std::pair<const char*, const char*> kParts[] = {
      {".hada_", "LoHa (hada_*)"},
      {".lokr_", "LoKr (lokr_*)"},
      {".dora_scale", "DoRA (dora_scale)"},
      {".lora_magnitude_vector", "DoRA (lora_magnitude_vector)"},
      {".lora_mid.", "LoCon with CP decomposition (lora_mid)"},
      {".lora_embedding_", "embedding LoRA (lora_embedding_A/B)"},
  };
  for (const auto& [part, kind] : kParts) {
    if (key.find(part) != std::string::npos) return kind;
  }
  constexpr std::pair<const char*, const char*> kEnds[] = {
      {".diff", "full weight differences (diff / diff_b)"},
      {".diff_b", "full weight differences (diff / diff_b)"},
      {".w_norm", "norm adapters (w_norm / b_norm)"},
      {".b_norm", "norm adapters (w_norm / b_norm)"},
  };
  const bool lycoris = starts_with(key, "lora_unet_") || starts_with(key, "lora_te");
  for (const auto& [end, kind] : kEnds) {
    if (lycoris && ends_with(key, end)) return kind;
  }
  return "";
}

std::optional<ParsedKey> parse_kohya(const std::string& key) {
  constexpr std::pair<const char*, const char*> kPrefixes[] = {
      {"lora_unet_", "unet"},
      {"lora_te1_", "text_encoder"},
      {"lora_te2_", "text_encoder_2"},
      {"lora_te_", "text_encoder"},
  };
  constexpr std::pair<const char*, Half> kSuffixes[] = {
      {".lora_down.weight", Half::kDown},
      {".lora_up.weight", Half::kUp},
      {".alpha", Half::kAlpha},
  };
  for (const auto& [prefix, model] : kPrefixes) {
    if (!starts_with(key, prefix)) continue;
    for (const auto& [suffix, half] : kSuffixes) {
      const std::string s = suffix;
      if (!ends_with(key, s)) continue;
      ParsedKey p;
      p.model = model;
      p.stem = key.substr(0, key.size() - s.size());
      p.module = p.stem.substr(std::string(prefix).size());
      if (p.module.empty() || p.module.find('.') != std::string::npos) return std::nullopt;
      p.kohya_prefix = model == std::string("unet") ? "" : prefix;
      p.flat = true;
      p.half = half;
      return p;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<ParsedKey> parse_diffusers(const std::string& key) {
  ParsedKey p;
  std::string rest;
  if (starts_with(key, "unet.")) {
    p.model = "unet";
    rest = key.substr(5);
  } else if (starts_with(key, "text_encoder_2.")) {
    p.model = "text_encoder_2";
    rest = key.substr(15);
  } else if (starts_with(key, "text_encoder.")) {
    p.model = "text_encoder";
    rest = key.substr(13);
  } else if (starts_with(key, "down_blocks.") || starts_with(key, "mid_block.") ||
             starts_with(key, "up_blocks.")) {
    p.model = "unet";  // an attention-processor file (unet.load_attn_procs) has no prefix
    rest = key;
  } else {
    return std::nullopt;
  }
  constexpr std::pair<const char*, Half> kSuffixes[] = {
      {".lora_A.weight", Half::kDown},
      {".lora_B.weight", Half::kUp},
      {".lora.down.weight", Half::kDown},
      {".lora.up.weight", Half::kUp},
      {".lora_linear_layer.down.weight", Half::kDown},
      {".lora_linear_layer.up.weight", Half::kUp},
      {"_lora.down.weight", Half::kDown},  // attention processors: ….processor.to_q_lora.down
      {"_lora.up.weight", Half::kUp},
      {".alpha", Half::kAlpha},
  };
  for (const auto& [suffix, half] : kSuffixes) {
    const std::string s = suffix;
    if (!ends_with(rest, s)) continue;
    p.module = rest.substr(0, rest.size() - s.size());
    p.stem = key.substr(0, key.size() - s.size());
    p.half = half;
    if (s[0] == '_') {
      // <attention>.processor.to_q_lora → <attention>.to_q (to_out_lora → to_out.0)
      const std::string proc = ".processor.";
      const size_t at = p.module.rfind(proc);
      if (at == std::string::npos) return std::nullopt;
      std::string projection = p.module.substr(at + proc.size());
      if (projection == "to_out") projection = "to_out.0";
      if (projection != "to_q" && projection != "to_k" && projection != "to_v" &&
          projection != "to_out.0") {
        return std::nullopt;
      }
      p.module = p.module.substr(0, at) + "." + projection;
      p.stem += "_lora";
    }
    if (p.module.empty()) return std::nullopt;
    return p;
  }
  return std::nullopt;
}

struct Group {
  ParsedKey key;
  const Tensor* down = nullptr;
  const Tensor* up = nullptr;
  const Tensor* alpha = nullptr;
  std::string down_key, up_key, alpha_key;
};

std::string listed(const std::vector<std::string>& keys, size_t n = 10) {
  std::string s;
  for (size_t i = 0; i < keys.size() && i < n; ++i) s += (i ? ", '" : "'") + keys[i] + "'";
  if (keys.size() > n) s += ", …";
  return s;
}

void check_float(const Tensor& t, const std::string& path, const std::string& key) {
  const DType d = t.dtype();
  if (d != DType::F32 && d != DType::F16 && d != DType::BF16) {
    throw Error(std::string("expected a floating-point tensor, got ") + dtype_name(d), path, key);
  }
}

}  // namespace

float LoraLayer::scale(float weight) const {
  const float r = static_cast<float>(rank());
  return weight * alpha.value_or(r) / r;
}

LoraFile read_lora_file(const std::string& path) {
  const TensorFile file = load_tensor_file(path);
  std::map<std::string, Group> groups;  // by stem
  std::vector<std::string> unknown;
  std::map<std::string, std::vector<std::string>> unsupported;  // kind → keys
  bool kohya = false, diffusers = false;
  for (const auto& nt : file.tensors) {
    std::optional<ParsedKey> p = parse_kohya(nt.name);
    if (p) {
      kohya = true;
    } else if ((p = parse_diffusers(nt.name))) {
      diffusers = true;
    } else {
      const std::string kind = unsupported_kind(nt.name);
      if (!kind.empty()) {
        unsupported[kind].push_back(nt.name);
      } else {
        unknown.push_back(nt.name);
      }
      continue;
    }
    if (p->half != Half::kAlpha) check_float(nt.tensor, path, nt.name);
    Group& g = groups[p->stem];
    g.key = *p;
    const Tensor** slot = p->half == Half::kDown ? &g.down
                          : p->half == Half::kUp ? &g.up
                                                 : &g.alpha;
    std::string& slot_key = p->half == Half::kDown ? g.down_key
                            : p->half == Half::kUp ? g.up_key
                                                   : g.alpha_key;
    if (*slot) {
      throw Error(
          "two tensors give the same LoRA weight ('" + slot_key + "' and '" + nt.name + "')", path,
          nt.name);
    }
    *slot = &nt.tensor;
    slot_key = nt.name;
  }
  if (!unsupported.empty()) {
    const auto& [kind, keys] = *unsupported.begin();
    throw Error(kind + " layers are not supported, only LoRA (down/up pairs): " +
                    std::to_string(keys.size()) + " key(s), e.g. " + listed(keys, 3),
                path);
  }
  if (!unknown.empty()) {
    throw Error(std::to_string(unknown.size()) +
                    " key(s) are not LoRA weights in a known naming (kohya lora_unet_ / "
                    "lora_te[12]_ … .lora_down / .lora_up / .alpha; diffusers/PEFT unet. / "
                    "text_encoder[_2]. … .lora_A / .lora_B): " +
                    listed(unknown),
                path);
  }
  LoraFile out;
  out.path = path;
  out.format = kohya && diffusers ? "kohya+diffusers" : kohya ? "kohya" : "diffusers";
  for (auto& [stem, g] : groups) {
    if (!g.down || !g.up) {
      throw Error(std::string("LoRA layer '") + stem + "' has its " + (g.down ? "down" : "up") +
                      " weight but not its " + (g.down ? "up" : "down") + " weight",
                  path,
                  g.down ? g.down_key
                  : g.up ? g.up_key
                         : g.alpha_key);
    }
    const Shape& d = g.down->shape();
    const Shape& u = g.up->shape();
    const bool down_ok = d.size() == 2 || d.size() == 4;
    const bool up_ok = (u.size() == 2 || (u.size() == 4 && u[2] == 1 && u[3] == 1));
    if (!down_ok || !up_ok || d[0] < 1 || u[1] != d[0]) {
      throw Error("LoRA layer '" + stem + "': down " + shape_str(d) + " and up " + shape_str(u) +
                      " are not a low-rank pair (down [rank, in] or [rank, in, kh, kw], up "
                      "[out, rank] or [out, rank, 1, 1], the same rank)",
                  path, g.down_key);
    }
    LoraLayer l;
    l.model = g.key.model;
    l.module = g.key.module;
    l.flat = g.key.flat;
    l.kohya_prefix = g.key.kohya_prefix;
    l.key = stem;
    l.down = *g.down;
    l.up = *g.up;
    if (g.alpha) {
      if (g.alpha->numel() != 1) {
        throw Error("alpha must be one number, got shape " + shape_str(g.alpha->shape()), path,
                    g.alpha_key);
      }
      const float a = g.alpha->to(DType::F32).data<float>()[0];
      if (!std::isfinite(a)) throw Error("alpha is not a finite number", path, g.alpha_key);
      l.alpha = a;
    }
    out.layers.push_back(std::move(l));
  }
  if (out.layers.empty()) {
    throw Error("no LoRA layers in the file (an empty file, or not a LoRA)", path);
  }
  return out;
}

}  // namespace ipa
