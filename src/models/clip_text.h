// CLIP text encoder: transformers' CLIPTextModel / CLIPTextModelWithProjection, forward only.
// Token + position embeddings, pre-LN transformer layers with a causal mask, final layer norm,
// pooled output at the end-of-text position and, when the weights have one, the projection.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/clip_activation.h"
#include "ops/layers.h"
#include "weights/weight_store.h"

namespace ipa {

// The fields of transformers' CLIPTextConfig that the forward pass uses.
struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  float layer_norm_eps = 1e-5f;
  std::string hidden_act = "quick_gelu";
  // Decides the pooled position: 2 (what SD1.5 / SDXL configs still say) selects the legacy
  // rule argmax(input_ids); any other value selects the first occurrence of that id.
  int64_t eos_token_id = 49407;

  // A text_encoder/config.json (or a full CLIPConfig, whose `text_config` is used); missing
  // keys take CLIPTextConfig's defaults. Inconsistent values throw ipa::Error naming `path`.
  static ClipTextConfig from_json(const nlohmann::json& j, const std::string& path);
  ops::Activation activation(const std::string& path = "") const;
};

struct ClipTextOutput {
  Tensor last_hidden_state;           // [B, L, D], after the final layer norm
  std::vector<Tensor> hidden_states;  // if asked: embeddings, then each layer (no final LN)
  Tensor pooled_output;               // [B, D]: last_hidden_state at the pooled position
  Tensor text_embeds;                 // [B, P] text_projection(pooled); undefined without one
};

class ClipTextEncoder {
 public:
  // A `text_encoder/` folder: config.json plus model.safetensors, model.fp16.safetensors,
  // pytorch_model.bin, ... (F32 or F16 weights; computed in F32).
  static ClipTextEncoder from_folder(const std::string& dir, Precision precision = Precision::F32);
  // Weights named like transformers: `text_model.embeddings.token_embedding.weight`, ...,
  // and `text_projection.weight` for CLIPTextModelWithProjection.
  ClipTextEncoder(const ClipTextConfig& config, const WeightStore& weights);

  // ids: I64 or I32 [B, L] with L ≤ max_position_embeddings.
  ClipTextOutput forward(const Tensor& ids, bool output_hidden_states = false) const;
  // hidden_states[index] of forward (negative counts from the end, as in Python), running only
  // the layers it needs.
  Tensor hidden_state(const Tensor& ids, int64_t index) const;
  // diffusers' StableDiffusionPipeline.encode_prompt: last_hidden_state, or with clip_skip > 0
  // final_layer_norm(hidden_states[-(clip_skip + 1)]).
  Tensor prompt_embeds(const Tensor& ids, int64_t clip_skip = 0) const;
  Tensor final_layer_norm(const Tensor& hidden) const { return final_norm_(hidden); }

  const ClipTextConfig& config() const { return config_; }
  bool has_projection() const { return projection_.defined(); }
  int64_t projection_dim() const { return has_projection() ? projection_.size(0) : 0; }
  // Per row, the position forward() pools at (see ClipTextConfig::eos_token_id).
  std::vector<int64_t> pooled_positions(const Tensor& ids) const;

 private:
  struct Layer {
    ops::LayerNorm norm1, norm2;
    ops::Linear q, k, v, out;
    ops::Linear fc1, fc2;
  };
  Tensor embed(const Tensor& ids) const;
  Tensor run_layer(const Layer& layer, const Tensor& x, const Tensor& mask) const;
  Tensor checked_ids(const Tensor& ids) const;

  ClipTextConfig config_;
  ops::Activation act_ = ops::Activation::QuickGELU;
  Tensor token_embedding_, position_embedding_;
  std::vector<Layer> layers_;
  ops::LayerNorm final_norm_;
  Tensor projection_;  // [P, D] or undefined
};

}  // namespace ipa
