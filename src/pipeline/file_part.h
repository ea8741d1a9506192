// A model of the base read from a single file instead of a diffusers folder: a part of a
// single-file checkpoint (its UNet, VAE, text encoders under their original names) or a VAE
// file given with --vae. The file is opened once and shared; the part's weights are renamed to
// diffusers / transformers names (views of the file's tensors, no copies) when it is opened.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "formats/tensor_file.h"
#include "weights/model_folder.h"

namespace ipa {

struct FilePart {
  enum class Names {
    kDiffusers,     // already the model's own names (a diffusers VAE file)
    kLdmUNet,       // model.diffusion_model.* (weights/ldm_unet_names.h)
    kLdmVae,        // first_stage_model.* (weights/ldm_part_names.h)
    kClipText,      // a transformers CLIPTextModel inside the checkpoint
    kOpenClipText,  // OpenCLIP's text tower (SDXL's second text encoder)
  };
  std::string what;  // "unet", "vae", "text_encoder", "text_encoder_2" (messages)
  std::shared_ptr<const TensorFile> file;
  std::string prefix;  // the part's key prefix in the file (with the file's wrapper)
  Names names = Names::kDiffusers;
  nlohmann::json config;      // what the part is read with
  std::string config_source;  // where that config came from (a path, or "built-in ...")
};

// The part as a model folder: `dir` and `weights_path` are the file, `config_path` the config's
// source, the store holds the part's tensors under the model's names, each with the file's own
// key in its source (so a shape error names both). Keys under the prefix that the config's
// model does not have are refused, naming the first; a config whose sizes contradict the
// file's (hidden size, layer count, channels) is refused naming key, expected and actual shape.
ModelFolder open_file_part(const FilePart& part, DType layer_dtype);

}  // namespace ipa
