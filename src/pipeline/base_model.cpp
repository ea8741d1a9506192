#include "pipeline/base_model.h"

#include <filesystem>

#include "base/error.h"
#include "formats/json_file.h"
#include "sampling/scheduler_config.h"

namespace fs = std::filesystem;

namespace ipa {

namespace {

struct KnownPipeline {
  const char* class_name;
  ModelFamily family;
};
// diffusers pipeline classes whose folders hold an SD1.5-family or SDXL model (the task a
// folder was saved for does not change its parts).
constexpr KnownPipeline kKnown[] = {
    {"StableDiffusionPipeline", ModelFamily::SD15},
    {"StableDiffusionImg2ImgPipeline", ModelFamily::SD15},
    {"StableDiffusionInpaintPipeline", ModelFamily::SD15},
    {"StableDiffusionXLPipeline", ModelFamily::SDXL},
    {"StableDiffusionXLImg2ImgPipeline", ModelFamily::SDXL},
    {"StableDiffusionXLInpaintPipeline", ModelFamily::SDXL},
};

std::string require_dir(const std::string& base, const std::string& sub, const std::string& why) {
  const fs::path p = fs::path(base) / sub;
  if (!fs::is_directory(p)) {
    throw Error(
        "the base model folder has no '" + sub + "/' part (" + why +
            "; expected a diffusers pipeline folder: model_index.json, unet/, vae/, "
            "text_encoder/, tokenizer/, scheduler/" +
            (why.find("SDXL") != std::string::npos ? ", text_encoder_2/, tokenizer_2/" : "") + ")",
        base);
  }
  return p.string();
}

std::string optional_dir(const std::string& base, const std::string& sub) {
  const fs::path p = fs::path(base) / sub;
  return fs::is_regular_file(p / "vocab.json") ? p.string() : std::string();
}

}  // namespace

BaseModel open_base_model(const std::string& dir, const std::string& config_dir) {
  if (fs::is_regular_file(dir)) return open_single_file_base(dir, config_dir);
  if (!fs::is_directory(dir)) throw Error("base model folder not found", dir);
  if (!config_dir.empty()) {
    throw Error(
        "--config (base_config) describes a single-file checkpoint; the base model is a "
        "diffusers folder with its own configs",
        dir);
  }
  BaseModel m;
  m.dir = dir;
  const std::string unet_dir = require_dir(dir, "unet", "every model needs one");
  const std::string unet_config = (fs::path(unet_dir) / "config.json").string();
  if (!fs::is_regular_file(unet_config)) throw Error("config.json is missing", unet_dir);
  m.unet_config = unet::load_unet_config(unet_config);
  m.unet_dir = unet_dir;
  const bool text_time = m.unet_config.text_time;

  const fs::path index_path = fs::path(dir) / "model_index.json";
  if (fs::is_regular_file(index_path)) {
    const nlohmann::json index = read_json_file(index_path.string());
    m.pipeline_class = json_value<std::string>(index, "_class_name", "", index_path.string());
    bool known = false;
    for (const auto& k : kKnown) {
      if (m.pipeline_class == k.class_name) {
        m.family = k.family;
        known = true;
      }
    }
    if (!known) {
      throw Error("model_index.json names the pipeline class '" + m.pipeline_class +
                      "', which is not a model family this engine runs (expected a Stable "
                      "Diffusion 1.5-family folder, _class_name StableDiffusionPipeline, or an "
                      "SDXL one, StableDiffusionXLPipeline)",
                  index_path.string());
    }
    m.force_zeros_for_empty_prompt =
        json_value<bool>(index, "force_zeros_for_empty_prompt", false, index_path.string());
    // The UNet must be the family's: SDXL's takes pooled text and size conditioning.
    if ((m.family == ModelFamily::SDXL) != text_time) {
      throw Error(std::string("model_index.json says ") + m.pipeline_class + " (" +
                      family_name(m.family) + ") but the UNet config " +
                      (text_time ? "has" : "lacks") +
                      " addition_embed_type \"text_time\", which an " +
                      (m.family == ModelFamily::SDXL ? "SDXL UNet has" : "SD1.5 UNet lacks"),
                  unet_config);
    }
  } else {
    m.family = text_time ? ModelFamily::SDXL : ModelFamily::SD15;
    m.pipeline_class = text_time ? "StableDiffusionXLPipeline" : "StableDiffusionPipeline";
    m.force_zeros_for_empty_prompt = text_time;  // SDXL base's value
  }

  const std::string family = m.family == ModelFamily::SDXL ? "SDXL" : "SD1.5";
  m.vae_dir = require_dir(dir, "vae", "every model needs one");
  m.text_encoder_dirs.push_back(require_dir(dir, "text_encoder", family + " needs it"));
  m.tokenizer_dirs.push_back(optional_dir(dir, "tokenizer"));
  if (m.family == ModelFamily::SDXL) {
    m.text_encoder_dirs.push_back(require_dir(dir, "text_encoder_2", "SDXL needs it"));
    m.tokenizer_dirs.push_back(optional_dir(dir, "tokenizer_2"));
  }
  m.scheduler_config =
      (fs::path(require_dir(dir, "scheduler", "every model needs one")) / "scheduler_config.json")
          .string();
  if (!fs::is_regular_file(m.scheduler_config)) {
    throw Error("scheduler_config.json is missing",
                fs::path(m.scheduler_config).parent_path().string());
  }
  m.scheduler = sampling::read_config_json_file(m.scheduler_config);
  m.text_encoder_parts.resize(m.text_encoder_dirs.size());
  return m;
}

ModelFolder open_base_unet(const BaseModel& m, DType layer_dtype) {
  return m.unet_part ? open_file_part(*m.unet_part, layer_dtype)
                     : open_model_folder(m.unet_dir, layer_dtype, m.variant);
}

ModelFolder open_base_vae(const BaseModel& m, DType layer_dtype) {
  return m.vae_part ? open_file_part(*m.vae_part, layer_dtype)
                    : open_model_folder(m.vae_dir, layer_dtype, m.variant);
}

ModelFolder open_base_text_encoder(const BaseModel& m, size_t index, DType layer_dtype) {
  const auto& part = m.text_encoder_parts.at(index);
  return part ? open_file_part(*part, layer_dtype)
              : open_model_folder(m.text_encoder_dirs.at(index), layer_dtype, m.variant);
}

void use_unet_folder(BaseModel& m, const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error("--unet: the UNet folder was not found", dir);
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::is_regular_file(config_path)) {
    throw Error("--unet: config.json is missing (expected a diffusers UNet folder)", dir);
  }
  const unet::UNetConfig c = unet::load_unet_config(config_path);
  const unet::UNetConfig& base = m.unet_config;
  auto refuse = [&](const std::string& what, const std::string& got, const std::string& want) {
    throw Error("--unet: " + what + " is " + got + ", the base model's (" + family_name(m.family) +
                    ") is " + want,
                config_path);
  };
  if (c.text_time != base.text_time) {
    refuse("addition_embed_type", c.text_time ? "\"text_time\" (SDXL)" : "none (SD1.5)",
           base.text_time ? "\"text_time\"" : "none");
  }
  if (c.cross_attention_dim != base.cross_attention_dim) {
    refuse("cross_attention_dim", std::to_string(c.cross_attention_dim),
           std::to_string(base.cross_attention_dim));
  }
  if (c.out_channels != base.out_channels) {
    refuse("out_channels", std::to_string(c.out_channels), std::to_string(base.out_channels));
  }
  if (c.in_channels != base.out_channels && c.in_channels != 2 * base.out_channels + 1) {
    throw Error("--unet: in_channels is " + std::to_string(c.in_channels) + "; expected " +
                    std::to_string(base.out_channels) + " (an ordinary UNet) or " +
                    std::to_string(2 * base.out_channels + 1) +
                    " (an inpainting UNet: latents + mask + masked-image latents)",
                config_path);
  }
  m.unet_config = c;
  m.unet_dir = dir;
  m.unet_part.reset();
}

}  // namespace ipa
