#include "weights/ldm_part_names.h"

#include <charconv>

#include "base/error.h"

namespace ipa {

namespace {

std::vector<std::string> split(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
    parts.push_back(key.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(key.substr(start));
  return parts;
}

std::string join(const std::vector<std::string>& parts, size_t from) {
  std::string out;
  for (size_t i = from; i < parts.size(); ++i) out += (out.empty() ? "" : ".") + parts[i];
  return out;
}

// A non-negative decimal index, or -1.
int64_t index_of(const std::string& s) {
  int64_t v = -1;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size() && v >= 0 ? v : -1;
}

std::vector<NamedTensor> one(std::string name, const Tensor& t) {
  return {NamedTensor{std::move(name), t}};
}

// Inside a VAE resnet only the shortcut is renamed.
std::optional<std::string> vae_resnet(const std::vector<std::string>& p, size_t from) {
  if (from + 2 != p.size()) return std::nullopt;
  static const char* kLayers[] = {"norm1", "conv1", "norm2", "conv2"};
  for (const char* l : kLayers) {
    if (p[from] == l) return join(p, from);
  }
  if (p[from] == "nin_shortcut") return "conv_shortcut." + p[from + 1];
  return std::nullopt;
}

// `mid.*` (from = the index after "mid") → the diffusers mid block.
ConvertedTensors vae_mid(const std::string& side, const std::vector<std::string>& p, size_t from,
                         const Tensor& t) {
  if (from + 2 > p.size()) return std::nullopt;
  const std::string out = side + ".mid_block.";
  if (p[from] == "block_1" || p[from] == "block_2") {
    const auto r = vae_resnet(p, from + 1);
    if (!r) return std::nullopt;
    return one(out + "resnets." + (p[from] == "block_1" ? "0." : "1.") + *r, t);
  }
  if (p[from] != "attn_1" || from + 3 != p.size()) return std::nullopt;
  static const std::pair<const char*, const char*> kAttention[] = {{"norm", "group_norm"},
                                                                   {"q", "to_q"},
                                                                   {"k", "to_k"},
                                                                   {"v", "to_v"},
                                                                   {"proj_out", "to_out.0"}};
  for (const auto& [ldm, diffusers] : kAttention) {
    if (p[from + 1] != ldm) continue;
    const std::string name = out + "attentions.0." + diffusers + "." + p[from + 2];
    // The projections are 1×1 convolutions in LDM: [C, C, 1, 1] is the Linear [C, C].
    const Shape& s = t.shape();
    if (p[from + 1] != std::string("norm") && s.size() == 4 && s[2] == 1 && s[3] == 1) {
      return one(name, t.reshape({s[0], s[1]}));
    }
    return one(name, t);
  }
  return std::nullopt;
}

}  // namespace

ConvertedTensors ldm_vae_tensor(const std::string& key, const Tensor& t, int64_t blocks) {
  // A training checkpoint's loss (LPIPS, discriminator) is saved with the autoencoder.
  if (key.rfind("loss.", 0) == 0) return std::vector<NamedTensor>{};
  const std::vector<std::string> p = split(key);
  if (p.size() == 2 && (p[0] == "quant_conv" || p[0] == "post_quant_conv")) return one(key, t);
  if (p.size() < 3 || (p[0] != "encoder" && p[0] != "decoder")) return std::nullopt;
  const std::string& side = p[0];
  if (p.size() == 3) {
    if (p[1] == "conv_in" || p[1] == "conv_out") return one(key, t);
    if (p[1] == "norm_out") return one(side + ".conv_norm_out." + p[2], t);
    return std::nullopt;
  }
  if (p[1] == "mid") return vae_mid(side, p, 2, t);
  const bool down = side == "encoder" && p[1] == "down";
  const bool up = side == "decoder" && p[1] == "up";
  const int64_t level = index_of(p[2]);
  if (!(down || up) || level < 0 || level >= blocks || p.size() < 5) return std::nullopt;
  // LDM's decoder.up.0 is the lowest resolution, diffusers' up_blocks.0 the first to run.
  const std::string block = side + (down ? ".down_blocks." : ".up_blocks.") +
                            std::to_string(down ? level : blocks - 1 - level) + ".";
  if (p[3] == "block" && index_of(p[4]) >= 0) {
    const auto r = vae_resnet(p, 5);
    if (!r) return std::nullopt;
    return one(block + "resnets." + p[4] + "." + *r, t);
  }
  const char* sampler = down ? "downsample" : "upsample";
  if (p[3] == sampler && p[4] == "conv" && p.size() == 6) {
    return one(block + (down ? "downsamplers" : "upsamplers") + ".0.conv." + p[5], t);
  }
  return std::nullopt;
}

ConvertedTensors ldm_clip_text_tensor(const std::string& key, const Tensor& t) {
  if (key.empty()) return std::nullopt;
  if (key.rfind("text_model.", 0) == 0) return one(key, t);
  // transformers < 4.?: CLIPTextTransformer's keys at the top (embeddings.*, encoder.*).
  if (key.rfind("embeddings.", 0) == 0 || key.rfind("encoder.", 0) == 0 ||
      key.rfind("final_layer_norm.", 0) == 0) {
    return one("text_model." + key, t);
  }
  if (key == "text_projection.weight") return one(key, t);
  return std::nullopt;
}

Tensor split_in_proj(const Tensor& fused, int index, const std::string& key) {
  if (fused.dim() < 1 || fused.size(0) % 3 != 0) {
    throw Error("a fused in-projection must have 3·D rows, got shape " + shape_str(fused.shape()) +
                " ('" + key + "')");
  }
  const int64_t d = fused.size(0) / 3;
  return fused.narrow(0, index * d, d);
}

ConvertedTensors open_clip_text_tensor(const std::string& key, const Tensor& t) {
  if (key == "token_embedding.weight") {
    return one("text_model.embeddings.token_embedding.weight", t);
  }
  if (key == "positional_embedding")
    return one("text_model.embeddings.position_embedding.weight", t);
  if (key == "ln_final.weight" || key == "ln_final.bias") {
    return one("text_model.final_layer_norm." + key.substr(key.rfind('.') + 1), t);
  }
  if (key == "text_projection") {
    if (t.dim() != 2) {
      throw Error("text_projection must be 2-D, got shape " + shape_str(t.shape()));
    }
    return one("text_projection.weight", t.transpose(0, 1));
  }
  if (key == "logit_scale" || key == "attn_mask") return std::vector<NamedTensor>{};
  const std::vector<std::string> p = split(key);
  if (p.size() < 5 || p[0] != "transformer" || p[1] != "resblocks" || index_of(p[2]) < 0) {
    return std::nullopt;
  }
  const std::string layer = "text_model.encoder.layers." + p[2] + ".";
  const std::string rest = join(p, 3);
  if (rest == "attn.in_proj_weight" || rest == "attn.in_proj_bias") {
    const std::string what = rest == "attn.in_proj_weight" ? "weight" : "bias";
    std::vector<NamedTensor> out;
    const char* kNames[] = {"q_proj", "k_proj", "v_proj"};
    for (int i = 0; i < 3; ++i) {
      out.push_back({layer + "self_attn." + kNames[i] + "." + what, split_in_proj(t, i, key)});
    }
    return out;
  }
  static const std::pair<const char*, const char*> kRenames[] = {
      {"ln_1.", "layer_norm1."},
      {"ln_2.", "layer_norm2."},
      {"mlp.c_fc.", "mlp.fc1."},
      {"mlp.c_proj.", "mlp.fc2."},
      {"attn.out_proj.", "self_attn.out_proj."},
  };
  for (const auto& [from, to] : kRenames) {
    const std::string f = from;
    if (rest.compare(0, f.size(), f) == 0 && rest.find('.', f.size()) == std::string::npos) {
      return one(layer + to + rest.substr(f.size()), t);
    }
  }
  return std::nullopt;
}

}  // namespace ipa
