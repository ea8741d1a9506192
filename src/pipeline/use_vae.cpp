// use_vae (pipeline/base_model.h): --vae, a VAE folder or one file in either naming, replacing
// the base's VAE.
#include <filesystem>

#include "base/error.h"
#include "formats/builtin_configs.h"
#include "formats/json_file.h"
#include "pipeline/base_model.h"

namespace fs = std::filesystem;

namespace ipa {

void use_vae(BaseModel& m, const std::string& path, const std::string& config_dir) {
  if (fs::is_directory(path)) {
    if (!fs::is_regular_file(fs::path(path) / "config.json")) {
      throw Error("--vae: config.json is missing (expected a diffusers VAE folder or one file)",
                  path);
    }
    m.vae_dir = path;
    m.vae_part.reset();
    return;
  }
  if (!fs::is_regular_file(path)) throw Error("--vae: no such file or folder", path);
  FilePart p;
  p.what = "vae";
  p.file = std::make_shared<const TensorFile>(load_tensor_file(path));
  std::vector<std::string> keys;
  for (const auto& t : p.file->tensors) keys.push_back(t.name);
  const auto under = [&](const std::string& prefix) {
    for (const auto& k : keys) {
      if (k.compare(0, prefix.size(), prefix) == 0) return true;
    }
    return false;
  };
  // A whole checkpoint's VAE, a VAE-only file in the original names, or diffusers names; each
  // possibly inside a {'state_dict': ...} wrapper.
  bool found = false;
  for (const std::string wrapper : {"", "state_dict."}) {
    for (const std::string prefix : {"first_stage_model.", ""}) {
      if (found) break;
      if (under(wrapper + prefix + "encoder.down.") || under(wrapper + prefix + "decoder.up.")) {
        p.prefix = wrapper + prefix;
        p.names = FilePart::Names::kLdmVae;
        found = true;
      } else if (under(wrapper + prefix + "encoder.down_blocks.") ||
                 under(wrapper + prefix + "decoder.up_blocks.")) {
        p.prefix = wrapper + prefix;
        p.names = FilePart::Names::kDiffusers;
        found = true;
      }
    }
  }
  if (!found) {
    throw Error(
        "--vae: not a VAE: no encoder/decoder weights (encoder.down.*, decoder.up.* in the "
        "original names, or encoder.down_blocks.* in diffusers' names)",
        path);
  }
  // The VAE-only file's extra tensors (a training loss, an EMA copy) are not the VAE's.
  if (p.prefix.empty() || p.prefix == "state_dict.") {
    auto filtered = std::make_shared<TensorFile>(*p.file);
    std::erase_if(filtered->tensors, [&](const NamedTensor& t) {
      const std::string k = t.name.substr(p.prefix.size());
      return !(k.rfind("encoder.", 0) == 0 || k.rfind("decoder.", 0) == 0 ||
               k.rfind("quant_conv.", 0) == 0 || k.rfind("post_quant_conv.", 0) == 0);
    });
    p.file = filtered;
  }
  const std::string family = m.family == ModelFamily::SDXL ? "sdxl" : "sd15";
  const fs::path from_config = fs::path(config_dir) / "vae" / "config.json";
  const fs::path from_base = fs::path(m.dir) / "vae" / "config.json";
  if (!config_dir.empty() && fs::is_regular_file(from_config)) {
    p.config_source = from_config.string();
  } else if (fs::is_directory(m.dir) && fs::is_regular_file(from_base)) {
    p.config_source = from_base.string();
  }
  if (p.config_source.empty()) {
    p.config_source = "built-in configs/" + family + "/vae/config.json";
    p.config = builtin_config(family + "/vae/config.json");
  } else {
    p.config = read_json_file(p.config_source);
  }
  m.vae_part = std::move(p);
  m.vae_dir = path;
}

}  // namespace ipa
