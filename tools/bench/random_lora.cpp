#include "bench/random_lora.h"

#include <filesystem>

#include "bench/random_weights.h"
#include "weights/model_folder.h"

namespace fs = std::filesystem;

namespace ipa::bench {

namespace {

std::string flatten(std::string s) {
  for (char& c : s) {
    if (c == '.') c = '_';
  }
  return s;
}

// down [rank, in(, kh, kw)] and up [out, rank(, 1, 1)] for every linear / conv weight.
void add_layers(const std::string& dir, const std::string& prefix, int64_t rank,
                std::vector<TensorSpec>* specs) {
  const ModelFolder folder = open_model_folder(dir);
  const std::string suffix = ".weight";
  for (const std::string& key : folder.weights.keys()) {
    const Shape w = folder.weights.shape_of(key);
    if ((w.size() != 2 && w.size() != 4) || key.size() <= suffix.size() ||
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0 ||
        key.find("embeddings.") != std::string::npos) {
      continue;
    }
    const std::string stem = prefix + flatten(key.substr(0, key.size() - suffix.size()));
    Shape down = w, up = {w[0], rank};
    down[0] = rank;
    if (w.size() == 4) up = {w[0], rank, 1, 1};
    specs->push_back({stem + ".lora_down.weight", down});
    specs->push_back({stem + ".lora_up.weight", up});
  }
}

}  // namespace

std::string ensure_random_lora(const std::string& base_dir, const std::string& cache_dir, int rank,
                               uint64_t seed, const std::function<void(const std::string&)>& log) {
  const fs::path base = fs::absolute(base_dir);
  const size_t tag = std::hash<std::string>{}(base.string());
  const fs::path path =
      fs::path(cache_dir) /
      ("lora-" + base.filename().string() + "-" + std::to_string(tag % 1000000) + "-r" +
       std::to_string(rank) + "-s" + std::to_string(seed) + ".safetensors");
  if (fs::exists(path)) return path.string();
  std::vector<TensorSpec> specs;
  const bool sdxl = fs::exists(base / "text_encoder_2");
  add_layers((base / "unet").string(), "lora_unet_", rank, &specs);
  add_layers((base / "text_encoder").string(), sdxl ? "lora_te1_" : "lora_te_", rank, &specs);
  if (sdxl) add_layers((base / "text_encoder_2").string(), "lora_te2_", rank, &specs);
  if (log) log("bench: writing a random rank-" + std::to_string(rank) + " LoRA " + path.string());
  fs::create_directories(cache_dir);
  write_random_safetensors(path.string(), specs, seed);
  return path.string();
}

}  // namespace ipa::bench
