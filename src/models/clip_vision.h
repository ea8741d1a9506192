// CLIP vision encoder with projection (transformers CLIPVisionModelWithProjection, 4.41
// semantics): the image encoder of IP-Adapter (ViT-H/14, ViT-bigG/14).
//
//   pixels ─ patch conv ─ [CLS] + patches + positions ─ pre_layrnorm ─ L encoder layers
//   hidden_states[0] = after pre_layrnorm, hidden_states[i] = output of layer i
//   last_hidden_state = hidden_states[L] (no final layer norm)
//   image_embeds = visual_projection(post_layernorm(last_hidden_state[:, 0]))  (not normalised)
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/clip_activation.h"
#include "ops/layers.h"
#include "weights/weight_store.h"

namespace ipa {

struct ClipVisionConfig {
  // Missing keys take transformers' CLIPVisionConfig defaults.
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t projection_dim = 512;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t num_channels = 3;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  float layer_norm_eps = 1e-5f;
  std::string hidden_act = "quick_gelu";

  int64_t grid() const { return image_size / patch_size; }  // patches per side
  int64_t num_patches() const { return grid() * grid(); }
  int64_t num_tokens() const { return num_patches() + 1; }  // + class token
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // hidden_act parsed; throws naming `path` when unknown.
  ops::Activation activation(const std::string& path = "") const {
    return clip_activation(hidden_act, path);
  }

  // A vision config object, or a full CLIPModel config (its "vision_config" is used).
  // `path` names the file in errors.
  static ClipVisionConfig from_json(const nlohmann::json& j, const std::string& path);
  static ClipVisionConfig from_file(const std::string& path);
};

// What forward() should return. Asking only for the penultimate state skips the last layer.
struct ClipVisionRequest {
  bool image_embeds = true;  // needs every layer
  bool last_hidden_state = false;
  bool penultimate = false;        // hidden_states[-2] (IP-Adapter plus / full-face)
  bool all_hidden_states = false;  // L + 1 tensors; costs L + 1 activations of memory
};

struct ClipVisionOutput {
  Tensor image_embeds;                // [B, projection_dim]
  Tensor last_hidden_state;           // [B, tokens, hidden]
  Tensor penultimate;                 // [B, tokens, hidden] = hidden_states[L - 1]
  std::vector<Tensor> hidden_states;  // L + 1 entries of [B, tokens, hidden]
};

class ClipVisionModel {
 public:
  // A save_pretrained folder: config.json + model.safetensors (F32/F16/BF16), or any other
  // weights file open_model_folder() accepts (.fp16, sharded, pytorch_model.bin, PaddleNLP's
  // model_state.pdparams); `variant` as there.
  static ClipVisionModel load(const std::string& dir, Precision precision = Precision::F32,
                              const std::string& variant = "");
  // From weights named like the HF checkpoint (`vision_model.…`, `visual_projection.weight`)
  // relative to `ws`. Every shape is checked against the config.
  ClipVisionModel(const ClipVisionConfig& config, const WeightScope& ws);

  const ClipVisionConfig& config() const { return config_; }

  // pixel_values F32 [B, num_channels, image_size, image_size] (CLIPImageProcessor output).
  ClipVisionOutput forward(const Tensor& pixel_values, const ClipVisionRequest& want = {}) const;

  // Number of encoder layers forward() runs for a request.
  int64_t layers_needed(const ClipVisionRequest& want) const;

 private:
  struct Layer {
    ops::LayerNorm ln1, ln2;
    ops::Linear qkv;  // q_proj, k_proj, v_proj stacked: one GEMM instead of three
    ops::Linear out_proj, fc1, fc2;
  };
  Tensor embed(const Tensor& pixel_values) const;
  Tensor run_layer(const Layer& layer, const Tensor& x) const;

  ClipVisionConfig config_;
  ops::Activation act_;
  ops::Conv2d patch_embedding_;
  Tensor class_embedding_;     // [hidden]
  Tensor position_embedding_;  // [tokens, hidden]
  ops::LayerNorm pre_layrnorm_, post_layernorm_;
  std::vector<Layer> layers_;
  ops::Linear visual_projection_;
};

}  // namespace ipa
