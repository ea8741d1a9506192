#include "models/clip_vision.h"

#include <cmath>
#include <cstring>

#include "formats/json_file.h"
#include "models/common/load_layers.h"
#include "weights/model_folder.h"

namespace ipa {

ClipVisionConfig ClipVisionConfig::from_json(const nlohmann::json& root, const std::string& path) {
  if (!root.is_object()) throw Error("config is not a JSON object", path);
  const nlohmann::json& j = config_section(root, "vision_config");
  ClipVisionConfig c;
  c.hidden_size = json_value<int64_t>(j, "hidden_size", c.hidden_size, path);
  c.intermediate_size = json_value<int64_t>(j, "intermediate_size", c.intermediate_size, path);
  c.projection_dim = json_value<int64_t>(j, "projection_dim", c.projection_dim, path);
  c.num_hidden_layers = json_value<int64_t>(j, "num_hidden_layers", c.num_hidden_layers, path);
  c.num_attention_heads =
      json_value<int64_t>(j, "num_attention_heads", c.num_attention_heads, path);
  c.num_channels = json_value<int64_t>(j, "num_channels", c.num_channels, path);
  c.image_size = json_value<int64_t>(j, "image_size", c.image_size, path);
  c.patch_size = json_value<int64_t>(j, "patch_size", c.patch_size, path);
  c.layer_norm_eps = static_cast<float>(
      json_value<double>(j, "layer_norm_eps", static_cast<double>(c.layer_norm_eps), path));
  c.hidden_act = json_value<std::string>(j, "hidden_act", c.hidden_act, path);
  c.activation(path);  // validates hidden_act

  require_positive("hidden_size", c.hidden_size, path);
  require_positive("intermediate_size", c.intermediate_size, path);
  require_positive("projection_dim", c.projection_dim, path);
  require_positive("num_hidden_layers", c.num_hidden_layers, path);
  require_positive("num_attention_heads", c.num_attention_heads, path);
  require_positive("num_channels", c.num_channels, path);
  require_positive("image_size", c.image_size, path);
  require_positive("patch_size", c.patch_size, path);
  if (c.hidden_size % c.num_attention_heads != 0) {
    throw Error("config: hidden_size " + std::to_string(c.hidden_size) +
                    " is not divisible by num_attention_heads " +
                    std::to_string(c.num_attention_heads),
                path);
  }
  if (c.patch_size > c.image_size) {
    throw Error("config: patch_size " + std::to_string(c.patch_size) + " exceeds image_size " +
                    std::to_string(c.image_size),
                path);
  }
  if (!(c.layer_norm_eps > 0.f)) throw Error("config key 'layer_norm_eps' must be positive", path);
  return c;
}

ClipVisionConfig ClipVisionConfig::from_file(const std::string& path) {
  return from_json(read_json_file(path), path);
}

ClipVisionModel ClipVisionModel::load(const std::string& dir, Precision precision,
                                      const std::string& variant) {
  const ModelFolder folder = open_model_folder(dir, layer_dtype(precision), variant);
  return ClipVisionModel(ClipVisionConfig::from_json(folder.config, folder.config_path),
                         folder.weights.scope(""));
}

ClipVisionModel::ClipVisionModel(const ClipVisionConfig& config, const WeightScope& ws)
    : config_(config), act_(config.activation()) {
  const ClipVisionConfig& c = config_;
  const int64_t E = c.hidden_size;
  const WeightScope vm = ws.scope("vision_model");
  const WeightScope emb = vm.scope("embeddings");
  patch_embedding_ =
      load_conv2d(emb, "patch_embedding", c.num_channels, E, static_cast<int>(c.patch_size),
                  ops::Conv2dParams::same(static_cast<int>(c.patch_size), 0),
                  /*bias=*/false);
  class_embedding_ = emb.get_f32("class_embedding", {E});
  position_embedding_ = emb.get_f32("position_embedding.weight", {c.num_tokens(), E});
  pre_layrnorm_ = load_layer_norm(vm, "pre_layrnorm", E, c.layer_norm_eps);
  post_layernorm_ = load_layer_norm(vm, "post_layernorm", E, c.layer_norm_eps);
  visual_projection_ = load_linear(ws, "visual_projection", E, c.projection_dim, /*bias=*/false);

  const WeightScope enc = vm.scope("encoder.layers");
  // More layers in the file than in the config means the config belongs to another model.
  const std::string extra = enc.join(std::to_string(c.num_hidden_layers)) + ".";
  if (!ws.store().keys_with_prefix(extra).empty()) {
    throw Error("the weights hold more encoder layers than num_hidden_layers = " +
                    std::to_string(c.num_hidden_layers) + " in config.json",
                ws.store().label(), ws.store().keys_with_prefix(extra).front());
  }
  layers_.reserve(static_cast<size_t>(c.num_hidden_layers));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const WeightScope l = enc.scope(std::to_string(i));
    Layer layer;
    layer.ln1 = load_layer_norm(l, "layer_norm1", E, c.layer_norm_eps);
    layer.ln2 = load_layer_norm(l, "layer_norm2", E, c.layer_norm_eps);
    layer.qkv =
        load_fused_linear(l, {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, E, E);
    layer.out_proj = load_linear(l, "self_attn.out_proj", E, E);
    layer.fc1 = load_linear(l, "mlp.fc1", E, c.intermediate_size);
    layer.fc2 = load_linear(l, "mlp.fc2", c.intermediate_size, E);
    layers_.push_back(std::move(layer));
  }
}

int64_t ClipVisionModel::layers_needed(const ClipVisionRequest& want) const {
  const int64_t L = config_.num_hidden_layers;
  return (want.image_embeds || want.last_hidden_state || want.all_hidden_states) ? L : L - 1;
}

Tensor ClipVisionModel::embed(const Tensor& pixel_values) const {
  const ClipVisionConfig& c = config_;
  const Shape want{pixel_values.dim() > 0 ? pixel_values.size(0) : 0, c.num_channels, c.image_size,
                   c.image_size};
  if (pixel_values.dim() != 4 || pixel_values.shape() != want || want[0] < 1) {
    throw Error("CLIP vision: pixel_values must be [batch, " + std::to_string(c.num_channels) +
                ", " + std::to_string(c.image_size) + ", " + std::to_string(c.image_size) +
                "] (the encoder's config image_size), got " + shape_str(pixel_values.shape()));
  }
  if (pixel_values.dtype() != DType::F32) {
    throw Error(std::string("CLIP vision: pixel_values must be F32, got ") +
                dtype_name(pixel_values.dtype()));
  }
  const int64_t B = want[0], E = c.hidden_size, P = c.num_patches();
  // [B, E, g, g] → [B, P, E]
  const Tensor patches = ops::permute(
      patch_embedding_(pixel_values.to(class_embedding_.device())).reshape({B, E, P}), {0, 2, 1});

  // Row 0 of every image is the class embedding, rows 1.. its patches; then + positions.
  // Copies through ops, so they run on the model's device.
  const std::vector<Tensor> cls(static_cast<size_t>(B), class_embedding_.reshape({1, 1, E}));
  Tensor x = ops::concat({ops::concat(cls, 0), patches}, 1);
  ops::add_(x, position_embedding_);
  return pre_layrnorm_(x);
}

Tensor ClipVisionModel::run_layer(const Layer& layer, const Tensor& x) const {
  const int64_t E = config_.hidden_size;
  const Tensor qkv = layer.qkv(layer.ln1(x));
  const Tensor attn =
      ops::attention(qkv.narrow(2, 0, E), qkv.narrow(2, E, E), qkv.narrow(2, 2 * E, E),
                     static_cast<int>(config_.num_attention_heads),
                     1.f / std::sqrt(static_cast<float>(config_.head_dim())));
  const Tensor h = ops::add(x, layer.out_proj(attn));
  return ops::add(h, layer.fc2(layer.fc1(layer.ln2(h), act_)));
}

ClipVisionOutput ClipVisionModel::forward(const Tensor& pixel_values,
                                          const ClipVisionRequest& want) const {
  ClipVisionOutput out;
  const int64_t L = config_.num_hidden_layers, run = layers_needed(want);
  Tensor x = embed(pixel_values);
  if (want.all_hidden_states) out.hidden_states.push_back(x);
  for (int64_t i = 0; i < run; ++i) {
    if (i == L - 1 && want.penultimate) out.penultimate = x;
    x = run_layer(layers_[static_cast<size_t>(i)], x);
    if (want.all_hidden_states) out.hidden_states.push_back(x);
  }
  if (run == L - 1 && want.penultimate) out.penultimate = x;
  if (run == L) {
    if (want.last_hidden_state) out.last_hidden_state = x;
    if (want.image_embeds) {
      const Tensor cls = x.select(1, 0);  // [B, E], strided view
      out.image_embeds = visual_projection_(post_layernorm_(cls));
    }
  }
  return out;
}

}  // namespace ipa
