// Where a ControlNet's weights come from: a diffusers folder, or one file with diffusers names
// or in the original LDM layout (renamed to diffusers names before the model is built).
#include <algorithm>
#include <filesystem>

#include "models/common/load_layers.h"
#include "models/controlnet/controlnet.h"
#include "models/controlnet/ldm_controlnet_names.h"
#include "weights/model_folder.h"

namespace ipa::controlnet {

namespace {

// `torch.save({'state_dict': ...})` files flatten to "state_dict.<key>"; diffusers unwraps them.
std::string wrapper_prefix(const TensorFile& file) {
  const std::string p = "state_dict.";
  for (const auto& t : file.tensors) {
    if (t.tensor.defined() && t.name.compare(0, p.size(), p) != 0) return "";
  }
  return file.tensors.empty() ? "" : p;
}

// The file's ControlNet weights under diffusers names in `store`.
void add_ldm_weights(const TensorFile& file, const std::string& prefix, const LdmUNetNames& names,
                     WeightStore* store) {
  std::vector<std::string> unknown;
  for (const auto& t : file.tensors) {
    if (t.name.compare(0, prefix.size(), prefix) != 0) continue;  // other models of a full file
    const auto name = names.to_diffusers(t.name.substr(prefix.size()));
    if (!name) {
      unknown.push_back(t.name);
      continue;
    }
    store->add(*name, t.tensor, file.path);
  }
  if (!unknown.empty()) {
    throw Error(std::to_string(unknown.size()) +
                    " key(s) are not part of a ControlNet with this config (first: '" + unknown[0] +
                    "'): the config describes another model than the checkpoint",
                file.path, unknown[0]);
  }
}

}  // namespace

ControlNetModel ControlNetModel::load_dir(const std::string& dir, Precision precision,
                                          const std::string& variant, Device device) {
  ModelFolder folder = open_model_folder(dir, layer_dtype(precision), variant);
  folder.weights.set_device(device);
  return load(parse_controlnet_config(folder.config, folder.config_path), folder.weights.scope(""));
}

ControlNetModel ControlNetModel::load_file(const std::string& path, const ControlNetConfig& config,
                                           Precision precision, Device device) {
  if (std::filesystem::is_directory(path)) {
    throw Error("expected a ControlNet weights file, got a folder (use its config.json)", path);
  }
  const TensorFile file = load_tensor_file(path);
  const std::string wrapper = wrapper_prefix(file);
  std::vector<std::string> keys;
  for (const auto& t : file.tensors) keys.push_back(t.name.substr(wrapper.size()));

  WeightStore store;
  store.set_label(path);
  store.set_layer_dtype(layer_dtype(precision));
  store.set_device(device);
  const auto ldm = ldm_controlnet_prefix(keys);
  if (ldm) {
    const LdmUNetNames names = ldm_controlnet_names(config);
    add_ldm_weights(file, wrapper + *ldm, names, &store);
    try {
      return load(config, store.scope(""));
    } catch (const Error& e) {
      // Name a missing or misshapen weight as the file names it.
      const auto original = e.key().empty() ? std::nullopt : names.to_ldm(e.key());
      if (!original) throw;
      throw Error(std::string(e.what()) + " (in this file: '" + wrapper + *ldm + *original + "')");
    }
  }
  const std::string probe = "controlnet_cond_embedding.conv_in.weight";
  if (std::find(keys.begin(), keys.end(), probe) == keys.end()) {
    throw Error("not a ControlNet checkpoint: it has neither diffusers names (" + probe +
                    ") nor the original layout (input_hint_block.*, time_embed.*, control_model.*)",
                path);
  }
  store.add_tensors(file, "");
  return load(config, store.scope(wrapper.empty() ? "" : wrapper.substr(0, wrapper.size() - 1)));
}

}  // namespace ipa::controlnet
