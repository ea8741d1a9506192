// A diffusers / transformers model folder: config.json plus weights under one of the standard
// names. One place decides which weights file a folder means.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "weights/weight_store.h"

namespace ipa {

// The weights file of `dir`. Full precision first, as diffusers reads a folder: model.safetensors,
// diffusion_pytorch_model.safetensors, sharded `*.safetensors.index.json`, pytorch_model.bin,
// diffusion_pytorch_model.bin, Paddle's model_state.pdparams; then the same names with a
// `.fp16` variant (a folder that holds only those). With `variant` ("fp16", as diffusers'
// `variant=`) the `.<variant>.` names come first. Empty when none exists.
std::string find_weights_file(const std::string& dir, const std::string& variant = "");

struct ModelFolder {
  std::string dir;
  std::string config_path;
  nlohmann::json config;
  std::string weights_path;
  WeightStore weights;
};

// Reads config.json and opens the weights (memory-mapped; nothing is converted yet); errors name
// the folder and what is missing. `layer_dtype` goes to the store (WeightStore::set_layer_dtype).
// A `.pdparams` file is read for CLIP vision encoders only (the PaddleNLP mirror's), renamed and
// transposed to transformers' layout (weights/paddle_names.h).
ModelFolder open_model_folder(const std::string& dir, DType layer_dtype = DType::F32,
                              const std::string& variant = "");

// config.json of a CLIP vision encoder (model_type clip_vision_model, or a CLIPVision* class).
bool is_clip_vision_config(const nlohmann::json& config);

}  // namespace ipa
