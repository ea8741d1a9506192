#include "pipeline/file_part.h"

#include <functional>
#include <map>
#include <set>

#include "models/clip_text.h"
#include "models/unet/config.h"
#include "models/unet/ldm_layout.h"
#include "models/vae/vae_config.h"
#include "weights/ldm_part_names.h"
#include "weights/ldm_unet_names.h"

namespace ipa {

namespace {

// The renaming rule of one part: file key (relative to the prefix) → the model's tensors.
using Rename = std::function<ConvertedTensors(const std::string&, const Tensor&)>;

Rename rename_rule(const FilePart& p) {
  switch (p.names) {
    case FilePart::Names::kDiffusers:
      return [](const std::string& key, const Tensor& t) -> ConvertedTensors {
        return std::vector<NamedTensor>{{key, t}};
      };
    case FilePart::Names::kLdmUNet: {
      const auto names = std::make_shared<LdmUNetNames>(
          unet::ldm_unet_layout(unet::parse_unet_config(p.config, p.config_source)));
      return [names](const std::string& key, const Tensor& t) -> ConvertedTensors {
        const auto name = names->to_diffusers(key);
        if (!name) return std::nullopt;
        return std::vector<NamedTensor>{{*name, t}};
      };
    }
    case FilePart::Names::kLdmVae: {
      const int64_t blocks = vae::VaeConfig::from_json(p.config, p.config_source).num_blocks();
      return [blocks](const std::string& key, const Tensor& t) {
        return ldm_vae_tensor(key, t, blocks);
      };
    }
    case FilePart::Names::kClipText:
      return ldm_clip_text_tensor;
    case FilePart::Names::kOpenClipText:
      return open_clip_text_tensor;
  }
  return nullptr;
}

// A few shapes every config fixes, compared before anything is converted: a checkpoint read
// with the wrong config (another family's, the tiny one's) fails here with both sides named.
void check_against_config(const FilePart& p, const WeightStore& store,
                          const std::map<std::string, std::string>& file_keys) {
  const std::string with = p.file->path + " (read with the config " + p.config_source + ")";
  auto expect = [&](const std::string& name, const std::vector<std::pair<size_t, int64_t>>& dims) {
    if (!store.has(name)) return;
    const Shape s = store.shape_of(name);
    Shape expected = s;
    for (const auto& [d, v] : dims) {
      if (d < expected.size()) expected[d] = v;
    }
    if (s != expected) throw Error::shape_mismatch(with, file_keys.at(name), expected, s);
  };
  switch (p.names) {
    case FilePart::Names::kLdmUNet: {
      const unet::UNetConfig c = unet::parse_unet_config(p.config, p.config_source);
      expect("conv_in.weight", {{0, c.block_out_channels.at(0)}, {1, c.in_channels}});
      expect("conv_out.weight", {{0, c.out_channels}, {1, c.block_out_channels.at(0)}});
      for (const auto& k : store.keys()) {
        if (k.size() > 17 && k.compare(k.size() - 17, 17, "attn2.to_k.weight") == 0) {
          if (!c.cross_attention_dim_per_block) expect(k, {{1, c.cross_attention_dim}});
          break;
        }
      }
      if (c.text_time) {
        expect("add_embedding.linear_1.weight",
               {{0, c.time_embed_dim}, {1, c.projection_class_embeddings_input_dim}});
      }
      break;
    }
    case FilePart::Names::kLdmVae: {
      const vae::VaeConfig c = vae::VaeConfig::from_json(p.config, p.config_source);
      expect("encoder.conv_in.weight", {{0, c.block_out_channels.front()}, {1, c.in_channels}});
      expect("decoder.conv_in.weight", {{0, c.block_out_channels.back()}, {1, c.latent_channels}});
      break;
    }
    case FilePart::Names::kClipText:
    case FilePart::Names::kOpenClipText: {
      const ClipTextConfig c = ClipTextConfig::from_json(p.config, p.config_source);
      expect("text_model.embeddings.token_embedding.weight",
             {{0, c.vocab_size}, {1, c.hidden_size}});
      expect("text_model.encoder.layers.0.mlp.fc1.weight",
             {{0, c.intermediate_size}, {1, c.hidden_size}});
      const std::string layers = "text_model.encoder.layers.";
      std::set<std::string> seen;
      for (const auto& k : store.keys_with_prefix(layers)) {
        seen.insert(k.substr(layers.size(), k.find('.', layers.size()) - layers.size()));
      }
      if (static_cast<int64_t>(seen.size()) != c.num_hidden_layers) {
        throw Error("the checkpoint's " + p.what + " has " + std::to_string(seen.size()) +
                        " layers, the config (" + p.config_source + ") says num_hidden_layers " +
                        std::to_string(c.num_hidden_layers),
                    p.file->path);
      }
      break;
    }
    case FilePart::Names::kDiffusers:
      break;
  }
}

}  // namespace

ModelFolder open_file_part(const FilePart& p, DType layer_dtype) {
  ModelFolder m;
  m.dir = m.weights_path = p.file->path;
  m.config_path = p.config_source;
  m.config = p.config;
  m.weights.set_label(p.file->path + " (" + p.what + ")");
  m.weights.set_layer_dtype(layer_dtype);
  const Rename rename = rename_rule(p);
  std::map<std::string, std::string> file_keys;  // model name → the file's key
  std::vector<std::string> unknown;
  for (const auto& t : p.file->tensors) {
    if (t.name.compare(0, p.prefix.size(), p.prefix) != 0 || !t.tensor.defined()) continue;
    ConvertedTensors converted;
    try {
      converted = rename(t.name.substr(p.prefix.size()), t.tensor);
    } catch (const Error& e) {
      throw Error(e.what(), p.file->path, t.name);  // a tensor of an impossible shape
    }
    if (!converted) {
      unknown.push_back(t.name);
      continue;
    }
    for (const auto& c : *converted) {
      m.weights.add(c.name, c.tensor, p.file->path + " ('" + t.name + "')");
      file_keys[c.name] = t.name;
    }
  }
  if (m.weights.size() == 0 && unknown.empty()) {
    throw Error("no " + p.what + " weights (" + p.prefix + "*) in the file", p.file->path);
  }
  // Sizes first: they say more about a wrong config than a key it lacks.
  check_against_config(p, m.weights, file_keys);
  if (!unknown.empty()) {
    throw Error(std::to_string(unknown.size()) + " key(s) are not weights of a " + p.what +
                    " with the config " + p.config_source + " (first: '" + unknown[0] +
                    "'): the config describes another model than the checkpoint",
                p.file->path, unknown[0]);
  }
  return m;
}

}  // namespace ipa
