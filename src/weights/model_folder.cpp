#include "weights/model_folder.h"

#include <filesystem>

#include "formats/json_file.h"

namespace fs = std::filesystem;

namespace ipa {

std::string find_weights_file(const std::string& dir) {
  static const char* kNames[] = {
      "model.safetensors",
      "diffusion_pytorch_model.safetensors",
      "model.fp16.safetensors",
      "diffusion_pytorch_model.fp16.safetensors",
      "model.safetensors.index.json",
      "diffusion_pytorch_model.safetensors.index.json",
      "model.fp16.safetensors.index.json",
      "diffusion_pytorch_model.fp16.safetensors.index.json",
      "pytorch_model.bin",
      "diffusion_pytorch_model.bin",
      "pytorch_model.fp16.bin",
      "diffusion_pytorch_model.fp16.bin",
  };
  for (const char* name : kNames) {
    const fs::path p = fs::path(dir) / name;
    if (fs::is_regular_file(p)) return p.string();
  }
  return {};
}

ModelFolder open_model_folder(const std::string& dir, DType layer_dtype) {
  if (!fs::is_directory(dir)) throw Error("model folder does not exist or is not a folder", dir);
  ModelFolder m;
  m.dir = dir;
  m.config_path = (fs::path(dir) / "config.json").string();
  if (!fs::is_regular_file(m.config_path)) throw Error("config.json is missing", dir);
  m.config = read_json_file(m.config_path);
  if (!m.config.is_object()) throw Error("config.json is not a JSON object", m.config_path);
  m.weights_path = find_weights_file(dir);
  if (m.weights_path.empty()) {
    throw Error(
        "no weights file (model.safetensors, diffusion_pytorch_model.safetensors, "
        "pytorch_model.bin, ...) in the folder",
        dir);
  }
  m.weights.add_file(m.weights_path);
  m.weights.set_label(m.weights_path);
  m.weights.set_layer_dtype(layer_dtype);
  return m;
}

}  // namespace ipa
