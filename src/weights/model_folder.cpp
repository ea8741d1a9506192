#include "weights/model_folder.h"

#include <filesystem>

#include "formats/json_file.h"
#include "weights/paddle_names.h"

namespace fs = std::filesystem;

namespace ipa {

namespace {

// Stem and extension of every weights name a folder may use, in order of preference.
struct WeightsName {
  const char* stem;
  const char* ext;
};
constexpr WeightsName kNames[] = {
    {"model", ".safetensors"},
    {"diffusion_pytorch_model", ".safetensors"},
    {"model", ".safetensors.index.json"},
    {"diffusion_pytorch_model", ".safetensors.index.json"},
    {"pytorch_model", ".bin"},
    {"diffusion_pytorch_model", ".bin"},
    {"model_state", ".pdparams"},
};

std::string first_existing(const std::string& dir, const std::string& variant) {
  for (const auto& n : kNames) {
    const std::string file = std::string(n.stem) + (variant.empty() ? "" : "." + variant) + n.ext;
    const fs::path p = fs::path(dir) / file;
    if (fs::is_regular_file(p)) return p.string();
  }
  return {};
}

}  // namespace

std::string find_weights_file(const std::string& dir, const std::string& variant) {
  std::string found;
  if (!variant.empty()) found = first_existing(dir, variant);
  if (found.empty()) found = first_existing(dir, "");
  if (found.empty() && variant != "fp16") found = first_existing(dir, "fp16");
  return found;
}

bool is_clip_vision_config(const nlohmann::json& c) {
  if (!c.is_object()) return false;
  if (c.contains("model_type") && c["model_type"] == "clip_vision_model") return true;
  if (c.contains("architectures") && c["architectures"].is_array()) {
    for (const auto& a : c["architectures"]) {
      if (a.is_string() && a.get<std::string>().rfind("CLIPVision", 0) == 0) return true;
    }
  }
  return false;
}

ModelFolder open_model_folder(const std::string& dir, DType layer_dtype,
                              const std::string& variant) {
  if (!fs::is_directory(dir)) throw Error("model folder does not exist or is not a folder", dir);
  ModelFolder m;
  m.dir = dir;
  m.config_path = (fs::path(dir) / "config.json").string();
  if (!fs::is_regular_file(m.config_path)) throw Error("config.json is missing", dir);
  m.config = read_json_file(m.config_path);
  if (!m.config.is_object()) throw Error("config.json is not a JSON object", m.config_path);
  m.weights_path = find_weights_file(dir, variant);
  if (m.weights_path.empty()) {
    throw Error(
        "no weights file (model.safetensors, diffusion_pytorch_model.safetensors, "
        "pytorch_model.bin, model_state.pdparams, ...) in the folder",
        dir);
  }
  TensorFile file = load_tensor_file(m.weights_path);
  if (file.format == "pdparams") {
    if (!is_clip_vision_config(m.config)) {
      throw Error(
          "a Paddle .pdparams weights file is read for CLIP vision encoders only (the PaddleNLP "
          "mirror's image_encoder/); config.json describes another model",
          m.weights_path);
    }
    paddle_clip_vision_to_transformers(file);
  }
  m.weights.add_tensors(file);
  m.weights.set_label(m.weights_path);
  m.weights.set_layer_dtype(layer_dtype);
  return m;
}

}  // namespace ipa
