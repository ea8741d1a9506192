// open_single_file_base (pipeline/base_model.h): a single-file SD1.x / SDXL checkpoint as a
// base model, read the way diffusers' from_single_file reads it (config= or the family's
// standard configs).
#include <filesystem>

#include "base/error.h"
#include "formats/builtin_configs.h"
#include "formats/json_file.h"
#include "pipeline/base_model.h"
#include "sampling/scheduler_config.h"
#include "weights/checkpoint_layout.h"

namespace fs = std::filesystem;

namespace ipa {

namespace {

// Where the checkpoint's configs come from: a diffusers pipeline folder, or the built-in
// full-size configs of the family.
struct ConfigSource {
  std::string dir;     // "" = built in
  std::string family;  // "sd15" / "sdxl" (built-in folder names)

  bool has(const std::string& rel) const {
    return !dir.empty() && fs::is_regular_file(fs::path(dir) / rel);
  }
  std::string source(const std::string& rel) const {
    return dir.empty() ? "built-in configs/" + family + "/" + rel : (fs::path(dir) / rel).string();
  }
  nlohmann::json json(const std::string& rel) const {
    if (dir.empty()) return builtin_config(family + "/" + rel);
    if (!has(rel)) {
      throw Error("the --config folder has no " + rel +
                      " (expected a diffusers pipeline folder describing the checkpoint)",
                  dir);
    }
    return read_json_file(source(rel));
  }
};

}  // namespace

BaseModel open_single_file_base(const std::string& path, const std::string& config_dir) {
  if (!config_dir.empty() && !fs::is_directory(config_dir)) {
    throw Error("--config: the config folder was not found", config_dir);
  }
  auto file = std::make_shared<const TensorFile>(load_tensor_file(path));
  std::vector<std::string> keys;
  keys.reserve(file->tensors.size());
  for (const auto& t : file->tensors) keys.push_back(t.name);
  const CheckpointLayout layout = detect_checkpoint_layout(keys, path);
  const bool xl = layout.family == ModelFamily::SDXL;
  const ConfigSource configs{config_dir, xl ? "sdxl" : "sd15"};

  BaseModel m;
  m.dir = path;
  m.family = layout.family;
  m.pipeline_class = xl ? "StableDiffusionXLPipeline" : "StableDiffusionPipeline";
  const nlohmann::json index = configs.dir.empty() || configs.has("model_index.json")
                                   ? configs.json("model_index.json")
                                   : nlohmann::json::object();
  if (index.contains("_class_name")) {
    const std::string cls = index.value("_class_name", "");
    const bool index_xl = cls.find("XL") != std::string::npos;
    if (index_xl != xl) {
      throw Error("the checkpoint is " + std::string(family_name(m.family)) +
                      " (from its keys) but the --config folder's model_index.json says " + cls,
                  configs.source("model_index.json"));
    }
  }
  m.force_zeros_for_empty_prompt = index.value("force_zeros_for_empty_prompt", xl);

  auto part = [&](const std::string& what, const std::string& prefix, FilePart::Names names) {
    FilePart p;
    p.what = what;
    p.file = file;
    p.prefix = layout.wrapper + prefix;
    p.names = names;
    p.config_source = configs.source(what + "/config.json");
    p.config = configs.json(what + "/config.json");
    return p;
  };
  // A model the file lacks comes from the --config folder when that has its weights.
  auto missing = [&](const std::string& what, const std::string& prefix) {
    const fs::path sub = fs::path(config_dir) / what;
    if (!config_dir.empty() && !find_weights_file(sub.string()).empty()) return sub.string();
    throw Error("the checkpoint has no " + what + " (" + prefix +
                    "*); give a --config folder that has its weights" +
                    (what == "vae" ? std::string(", or --vae") : std::string()),
                path);
  };

  FilePart unet = part("unet", layout.unet, FilePart::Names::kLdmUNet);
  if (configs.dir.empty()) {
    // The standard config with the file's input channels (an inpainting fine-tune has 9), as
    // from_single_file infers them.
    const std::string conv_in = layout.wrapper + layout.unet + "input_blocks.0.0.weight";
    const Tensor* w = file->find(conv_in);
    if (w && w->dim() == 4) unet.config["in_channels"] = w->size(1);
  }
  m.unet_config = unet::parse_unet_config(unet.config, unet.config_source);
  if (m.unet_config.text_time != xl) {
    throw Error(std::string("the UNet config ") + (xl ? "lacks" : "has") +
                    " addition_embed_type \"text_time\" but the checkpoint is " +
                    family_name(m.family),
                unet.config_source);
  }
  m.unet_dir = path;
  m.unet_part = std::move(unet);

  if (!layout.vae.empty()) {
    m.vae_part = part("vae", layout.vae, FilePart::Names::kLdmVae);
    m.vae_dir = path;
  } else {
    m.vae_dir = missing("vae", "first_stage_model.");
  }

  const std::vector<std::pair<std::string, std::string>> encoders =
      xl ? std::vector<std::pair<std::string, std::string>>{{"text_encoder", layout.text_encoder},
                                                            {"text_encoder_2",
                                                             layout.text_encoder_2}}
         : std::vector<std::pair<std::string, std::string>>{{"text_encoder", layout.text_encoder}};
  for (size_t i = 0; i < encoders.size(); ++i) {
    const auto& [what, prefix] = encoders[i];
    if (prefix.empty()) {
      m.text_encoder_dirs.push_back(missing(
          what,
          xl ? (i == 0 ? "conditioner.embedders.0.transformer." : "conditioner.embedders.1.model.")
             : "cond_stage_model.transformer."));
      m.text_encoder_parts.emplace_back();
    } else {
      m.text_encoder_dirs.push_back(path);
      m.text_encoder_parts.push_back(
          part(what, prefix, i == 1 ? FilePart::Names::kOpenClipText : FilePart::Names::kClipText));
    }
    const std::string tokenizer = i == 0 ? "tokenizer" : "tokenizer_2";
    m.tokenizer_dirs.push_back(configs.has(tokenizer + "/vocab.json")
                                   ? (fs::path(config_dir) / tokenizer).string()
                                   : std::string());
  }

  const std::string scheduler = "scheduler/scheduler_config.json";
  m.scheduler_config = configs.source(scheduler);
  if (configs.dir.empty()) {
    const char* text = builtin_config_text(configs.family + "/" + scheduler);
    if (!text) throw Error("no built-in config '" + configs.family + "/" + scheduler + "'");
    m.scheduler = sampling::parse_config_json(text, m.scheduler_config);
  } else {
    if (!configs.has(scheduler)) configs.json(scheduler);  // throws, naming the folder
    m.scheduler = sampling::read_config_json_file(m.scheduler_config);
  }
  return m;
}

}  // namespace ipa
