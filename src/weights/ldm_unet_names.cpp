#include "weights/ldm_unet_names.h"

#include "base/error.h"

namespace ipa {

namespace {

std::string at(const std::string& list, size_t i) {
  return list + "." + std::to_string(i) + ".";
}

// The renames inside one LDM ResBlock; anything else under a resnet is not a resnet weight.
constexpr std::pair<const char*, const char*> kResnet[] = {
    {"in_layers.0.", "norm1."},          {"in_layers.2.", "conv1."},
    {"emb_layers.1.", "time_emb_proj."}, {"out_layers.0.", "norm2."},
    {"out_layers.3.", "conv2."},         {"skip_connection.", "conv_shortcut."},
};

}  // namespace

LdmUNetNames::LdmUNetNames(const LdmUNetLayout& l) {
  const size_t n = l.layers_per_block.size();
  if (n == 0 || l.down_attention.size() != n ||
      (!l.up_attention.empty() && l.up_attention.size() != n)) {
    throw Error(
        "LDM UNet layout: layers_per_block, down_attention and up_attention must have one "
        "entry per block");
  }
  for (int layers : l.layers_per_block) {
    if (layers < 1) throw Error("LDM UNet layout: every block needs at least one layer");
  }

  add("time_embed.0.", "time_embedding.linear_1.");
  add("time_embed.2.", "time_embedding.linear_2.");
  if (l.addition_embedding) {
    add("label_emb.0.0.", "add_embedding.linear_1.");
    add("label_emb.0.2.", "add_embedding.linear_2.");
  }
  add("input_blocks.0.0.", "conv_in.");

  size_t k = 1;
  for (size_t i = 0; i < n; ++i) {
    const std::string block = at("down_blocks", i);
    for (size_t j = 0; j < static_cast<size_t>(l.layers_per_block[i]); ++j, ++k) {
      add(at("input_blocks", k) + "0.", at(block + "resnets", j), /*resnet=*/true);
      if (l.down_attention[i]) add(at("input_blocks", k) + "1.", at(block + "attentions", j));
    }
    if (i + 1 != n) add(at("input_blocks", k++) + "0.op.", block + "downsamplers.0.conv.");
  }

  if (l.has_mid) {
    add("middle_block.0.", "mid_block.resnets.0.", true);
    if (l.mid_attention) {
      add("middle_block.1.", "mid_block.attentions.0.");
      add("middle_block.2.", "mid_block.resnets.1.", true);
    }
  }

  if (l.up_attention.empty()) return;
  k = 0;
  for (size_t i = 0; i < n; ++i) {
    const std::string block = at("up_blocks", i);
    const size_t layers = static_cast<size_t>(l.layers_per_block[n - 1 - i]) + 1;
    for (size_t j = 0; j < layers; ++j, ++k) {
      add(at("output_blocks", k) + "0.", at(block + "resnets", j), true);
      if (l.up_attention[i]) add(at("output_blocks", k) + "1.", at(block + "attentions", j));
      if (j + 1 == layers && i + 1 != n) {
        add(at("output_blocks", k) + (l.up_attention[i] ? "2" : "1") + ".conv.",
            block + "upsamplers.0.conv.");
      }
    }
  }
  add("out.0.", "conv_norm_out.");
  add("out.2.", "conv_out.");
}

void LdmUNetNames::add(const std::string& ldm_prefix, const std::string& diffusers_prefix,
                       bool resnet) {
  if (ldm_prefix.empty() || ldm_prefix.back() != '.') {
    throw Error("LDM name rule '" + ldm_prefix + "' must end in '.'");
  }
  if (!rules_.emplace(ldm_prefix, Rule{diffusers_prefix, resnet}).second) {
    throw Error("LDM name rule '" + ldm_prefix + "' given twice");
  }
}

std::optional<std::string> LdmUNetNames::to_diffusers(const std::string& key) const {
  // The longest rule that is a prefix of the key at a '.' boundary.
  for (size_t end = key.rfind('.'); end != std::string::npos && end > 0;
       end = key.rfind('.', end - 1)) {
    const auto it = rules_.find(key.substr(0, end + 1));
    if (it == rules_.end()) continue;
    const std::string rest = key.substr(end + 1);
    if (!it->second.resnet) return it->second.diffusers + rest;
    for (const auto& [from, to] : kResnet) {
      const std::string f = from;
      if (rest.compare(0, f.size(), f) == 0)
        return it->second.diffusers + to + rest.substr(f.size());
    }
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::string> LdmUNetNames::to_ldm(const std::string& key) const {
  // Few rules per model: a scan for the longest diffusers prefix is enough.
  const std::pair<const std::string, Rule>* best = nullptr;
  for (const auto& entry : rules_) {
    const std::string& d = entry.second.diffusers;
    if (key.compare(0, d.size(), d) == 0 && (!best || d.size() > best->second.diffusers.size())) {
      best = &entry;
    }
  }
  if (!best) return std::nullopt;
  const std::string rest = key.substr(best->second.diffusers.size());
  if (!best->second.resnet) return best->first + rest;
  for (const auto& [from, to] : kResnet) {
    const std::string t = to;
    if (rest.compare(0, t.size(), t) == 0) return best->first + from + rest.substr(t.size());
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> LdmUNetNames::prefixes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [ldm, rule] : rules_) out.emplace_back(ldm, rule.diffusers);
  return out;
}

}  // namespace ipa
