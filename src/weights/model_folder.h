// A diffusers / transformers model folder: config.json plus weights under one of the standard
// names. One place decides which weights file a folder means.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "weights/weight_store.h"

namespace ipa {

// The weights file of `dir`, in order of preference: model.safetensors,
// diffusion_pytorch_model.safetensors, their `.fp16.` variants, sharded `*.safetensors.index.json`,
// pytorch_model.bin, diffusion_pytorch_model.bin (and .fp16 variants). Empty when none exists.
std::string find_weights_file(const std::string& dir);

struct ModelFolder {
  std::string dir;
  std::string config_path;
  nlohmann::json config;
  std::string weights_path;
  WeightStore weights;
};

// Reads config.json and opens the weights (memory-mapped; nothing is converted yet); errors name
// the folder and what is missing. `layer_dtype` goes to the store (WeightStore::set_layer_dtype).
ModelFolder open_model_folder(const std::string& dir, DType layer_dtype = DType::F32);

}  // namespace ipa
