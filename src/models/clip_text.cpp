#include "models/clip_text.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "formats/json_file.h"
#include "models/common/load_layers.h"
#include "weights/model_folder.h"

namespace ipa {
namespace {

// transformers' causal mask uses the dtype's lowest value rather than -inf.
Tensor causal_mask(int64_t length) {
  Tensor mask = Tensor::empty({length, length});
  float* m = mask.data<float>();
  for (int64_t i = 0; i < length; ++i) {
    for (int64_t j = 0; j < length; ++j)
      m[i * length + j] = j <= i ? 0.f : std::numeric_limits<float>::lowest();
  }
  return mask;
}

}  // namespace

ClipTextConfig ClipTextConfig::from_json(const nlohmann::json& root, const std::string& path) {
  const nlohmann::json& j = config_section(root, "text_config");
  ClipTextConfig c;
  c.vocab_size = json_value<int64_t>(j, "vocab_size", c.vocab_size, path);
  c.hidden_size = json_value<int64_t>(j, "hidden_size", c.hidden_size, path);
  c.intermediate_size = json_value<int64_t>(j, "intermediate_size", c.intermediate_size, path);
  c.num_hidden_layers = json_value<int64_t>(j, "num_hidden_layers", c.num_hidden_layers, path);
  c.num_attention_heads =
      json_value<int64_t>(j, "num_attention_heads", c.num_attention_heads, path);
  c.max_position_embeddings =
      json_value<int64_t>(j, "max_position_embeddings", c.max_position_embeddings, path);
  c.layer_norm_eps = json_value<float>(j, "layer_norm_eps", c.layer_norm_eps, path);
  c.hidden_act = json_value<std::string>(j, "hidden_act", c.hidden_act, path);
  c.eos_token_id = json_value<int64_t>(j, "eos_token_id", c.eos_token_id, path);

  require_positive("vocab_size", c.vocab_size, path);
  require_positive("hidden_size", c.hidden_size, path);
  require_positive("intermediate_size", c.intermediate_size, path);
  require_positive("num_attention_heads", c.num_attention_heads, path);
  require_positive("max_position_embeddings", c.max_position_embeddings, path);
  if (c.num_hidden_layers < 0) throw Error("num_hidden_layers must not be negative", path);
  if (c.hidden_size % c.num_attention_heads != 0) {
    throw Error("hidden_size " + std::to_string(c.hidden_size) + " does not split into " +
                    std::to_string(c.num_attention_heads) + " attention heads",
                path);
  }
  if (!(c.layer_norm_eps > 0.f)) throw Error("layer_norm_eps must be positive", path);
  c.activation(path);  // validates hidden_act
  return c;
}

ops::Activation ClipTextConfig::activation(const std::string& path) const {
  return clip_activation(hidden_act, path);
}

ClipTextEncoder ClipTextEncoder::from_folder(const std::string& dir, Precision precision) {
  ModelFolder folder = open_model_folder(dir, layer_dtype(precision));
  return ClipTextEncoder(ClipTextConfig::from_json(folder.config, folder.config_path),
                         folder.weights);
}

ClipTextEncoder::ClipTextEncoder(const ClipTextConfig& config, const WeightStore& weights)
    : config_(config), act_(config.activation()) {
  const int64_t d = config.hidden_size, inner = config.intermediate_size;
  const float eps = config.layer_norm_eps;
  const WeightScope tm = weights.scope("text_model");
  token_embedding_ = tm.get_f32("embeddings.token_embedding.weight", {config.vocab_size, d});
  position_embedding_ =
      tm.get_f32("embeddings.position_embedding.weight", {config.max_position_embeddings, d});
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    const WeightScope ws = tm.scope("encoder.layers." + std::to_string(l));
    Layer layer;
    layer.norm1 = load_layer_norm(ws, "layer_norm1", d, eps);
    layer.norm2 = load_layer_norm(ws, "layer_norm2", d, eps);
    layer.q = load_linear(ws, "self_attn.q_proj", d, d);
    layer.k = load_linear(ws, "self_attn.k_proj", d, d);
    layer.v = load_linear(ws, "self_attn.v_proj", d, d);
    layer.out = load_linear(ws, "self_attn.out_proj", d, d);
    layer.fc1 = load_linear(ws, "mlp.fc1", d, inner);
    layer.fc2 = load_linear(ws, "mlp.fc2", inner, d);
    layers_.push_back(std::move(layer));
  }
  final_norm_ = load_layer_norm(tm, "final_layer_norm", d, eps);
  if (weights.has("text_projection.weight")) {
    const Shape s = weights.shape_of("text_projection.weight");
    if (s.size() != 2 || s[0] <= 0 || s[1] != d) {
      throw Error::shape_mismatch(weights.source_of("text_projection.weight"),
                                  "text_projection.weight", {s.empty() ? -1 : s[0], d}, s);
    }
    projection_ = weights.get_f32("text_projection.weight", s);
  }
}

Tensor ClipTextEncoder::checked_ids(const Tensor& ids) const {
  if (!ids.defined() || ids.dim() != 2 ||
      (ids.dtype() != DType::I64 && ids.dtype() != DType::I32)) {
    throw Error("CLIP text encoder expects token ids as I64 or I32 [batch, length], got " +
                (ids.defined() ? ids.describe() : std::string("nothing")));
  }
  const int64_t length = ids.size(1);
  if (length < 1 || length > config_.max_position_embeddings) {
    throw Error("CLIP text encoder: sequence length " + std::to_string(length) + " is outside 1.." +
                std::to_string(config_.max_position_embeddings) + " (max_position_embeddings)");
  }
  return ids.contiguous();
}

Tensor ClipTextEncoder::embed(const Tensor& ids) const {
  // Token ids are a host input: moved to the weights' device (a no-op on the host).
  Tensor x = ops::embedding(token_embedding_,
                            ids.to(token_embedding_.device()));  // [B, L, D], checks the id range
  ops::add_(x, position_embedding_.narrow(0, 0, ids.size(1)));
  return x;
}

Tensor ClipTextEncoder::run_layer(const Layer& layer, const Tensor& x, const Tensor& mask) const {
  const int64_t heads = config_.num_attention_heads;
  const float scale = 1.f / std::sqrt(static_cast<float>(config_.hidden_size / heads));
  const Tensor h = layer.norm1(x);
  Tensor attn = layer.out(
      ops::attention(layer.q(h), layer.k(h), layer.v(h), static_cast<int>(heads), scale, mask));
  ops::add_(attn, x);  // residual
  Tensor mlp = layer.fc2(layer.fc1(layer.norm2(attn), act_));
  ops::add_(mlp, attn);  // residual
  return mlp;
}

std::vector<int64_t> ClipTextEncoder::pooled_positions(const Tensor& ids_in) const {
  // Read on the host (a copy when the ids are on a device): [batch, length] integers.
  const Tensor ids = checked_ids(ids_in).to(Device{}).to(DType::I64);
  const int64_t batch = ids.size(0), length = ids.size(1);
  const int64_t* p = ids.data<int64_t>();
  std::vector<int64_t> positions(static_cast<size_t>(batch), 0);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t* row = p + b * length;
    int64_t pos = 0;
    if (config_.eos_token_id == 2) {
      // Legacy configs: the highest id, i.e. the first <|endoftext|> (first maximum on ties).
      for (int64_t i = 1; i < length; ++i) {
        if (row[i] > row[pos]) pos = i;
      }
    } else {
      // First occurrence of eos_token_id; position 0 when absent (argmax of all zeros).
      for (int64_t i = 0; i < length; ++i) {
        if (row[i] == config_.eos_token_id) {
          pos = i;
          break;
        }
      }
    }
    positions[static_cast<size_t>(b)] = pos;
  }
  return positions;
}

ClipTextOutput ClipTextEncoder::forward(const Tensor& ids_in, bool output_hidden_states) const {
  const Tensor ids = checked_ids(ids_in);
  const int64_t batch = ids.size(0), length = ids.size(1), d = config_.hidden_size;
  const Tensor mask = causal_mask(length).to(token_embedding_.device());
  ClipTextOutput out;
  Tensor x = embed(ids);
  if (output_hidden_states) out.hidden_states.push_back(x);
  for (const Layer& layer : layers_) {
    x = run_layer(layer, x, mask);
    if (output_hidden_states) out.hidden_states.push_back(x);
  }
  out.last_hidden_state = final_norm_(x);

  const std::vector<int64_t> positions = pooled_positions(ids);
  // Row `positions[b]` of every sequence, gathered with copies on the model's device.
  std::vector<Tensor> pooled;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t pos = positions[static_cast<size_t>(b)];
    pooled.push_back(ops::slice(ops::slice(out.last_hidden_state, 0, b, b + 1), 1, pos, pos + 1)
                         .reshape({1, d}));
  }
  out.pooled_output = ops::concat(pooled, 0);
  if (has_projection()) out.text_embeds = ops::linear(out.pooled_output, projection_);
  return out;
}

Tensor ClipTextEncoder::hidden_state(const Tensor& ids_in, int64_t index) const {
  const int64_t count = static_cast<int64_t>(layers_.size()) + 1;
  const int64_t i = index < 0 ? count + index : index;
  if (i < 0 || i >= count) {
    throw Error("CLIP text encoder: hidden state " + std::to_string(index) +
                " does not exist (the model has " + std::to_string(count) +
                ": the embeddings and " + std::to_string(count - 1) + " layers)");
  }
  const Tensor ids = checked_ids(ids_in);
  const Tensor mask = causal_mask(ids.size(1)).to(token_embedding_.device());
  Tensor x = embed(ids);
  for (int64_t l = 0; l < i; ++l) x = run_layer(layers_[static_cast<size_t>(l)], x, mask);
  return x;
}

Tensor ClipTextEncoder::prompt_embeds(const Tensor& ids, int64_t clip_skip) const {
  if (clip_skip < 0) throw Error("clip_skip must not be negative");
  if (clip_skip == 0) return forward(ids).last_hidden_state;
  return final_layer_norm(hidden_state(ids, -(clip_skip + 1)));
}

}  // namespace ipa
