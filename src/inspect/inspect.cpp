#include "inspect/inspect.h"

#include <filesystem>
#include <map>
#include <sstream>

#include "adapter/adapter_info.h"
#include "formats/json_file.h"
#include "models/clip_vision.h"
#include "weights/checkpoint_layout.h"
#include "weights/hf_cache.h"
#include "weights/model_folder.h"

namespace fs = std::filesystem;

namespace ipa {

namespace {

using ojson = nlohmann::ordered_json;

ojson describe_adapter(const WeightStore& ws, const std::string& path) {
  const AdapterInfo info = detect_adapter(ws, path);
  ojson j;
  j["kind"] = "ip-adapter";
  j["variant"] = variant_name(info.variant);
  if (info.num_tokens) {
    j["num_tokens"] = *info.num_tokens;
  } else {
    j["num_tokens"] = nullptr;
    j["num_tokens_note"] =
        "full-face uses one token per image-encoder token (257 for ViT-H/14 at 224 px); the count "
        "is not stored in the file";
  }
  j["cross_attention_dim"] = info.cross_attention_dim;
  j["image_embed_dim"] = info.image_embed_dim;
  j["image_feature"] = info.feature == EncoderFeature::ImageEmbeds
                           ? "image_embeds (projected CLS token)"
                           : "hidden_states[-2] (penultimate layer, all tokens)";
  j["ip_layers"] = info.ip_layers;
  j["base"] = info.base;
  if (info.variant == AdapterVariant::Plus) {
    const auto& r = info.resampler;
    j["resampler"] = {{"dim", r.dim},
                      {"depth", r.depth},
                      {"heads", r.heads},
                      {"dim_head", r.dim_head},
                      {"num_queries", r.num_queries},
                      {"ff_mult", r.ff_mult}};
  }
  return j;
}

// num_tensors, tensor_bytes and the count of tensors per dtype.
void add_tensor_totals(const TensorFile& file, ojson& j) {
  uint64_t bytes = 0;
  std::map<std::string, int64_t> dtypes;
  for (const auto& nt : file.tensors) {
    bytes += nt.tensor.nbytes();
    dtypes[dtype_name(nt.tensor.dtype())] += 1;
  }
  j["num_tensors"] = file.tensors.size();
  j["tensor_bytes"] = bytes;
  j["dtypes"] = dtypes;
}

ojson tensor_list(const TensorFile& file) {
  ojson tensors = ojson::array();
  for (const auto& nt : file.tensors) {
    tensors.push_back({{"name", nt.name},
                       {"dtype", dtype_name(nt.tensor.dtype())},
                       {"shape", nt.tensor.shape()},
                       {"bytes", nt.tensor.nbytes()}});
  }
  return tensors;
}

// A single-file Stable Diffusion checkpoint: its family and the models in it, or why the
// engine would refuse it.
ojson describe_sd_checkpoint(const TensorFile& file, const std::vector<std::string>& keys) {
  ojson j;
  j["kind"] = "sd-checkpoint";
  try {
    const CheckpointLayout l = detect_checkpoint_layout(keys, file.path);
    j["family"] = family_name(l.family);
    ojson parts = ojson::object();
    parts["unet"] = l.unet;
    parts["vae"] = l.vae.empty() ? ojson(nullptr) : ojson(l.vae);
    parts["text_encoder"] = l.text_encoder.empty() ? ojson(nullptr) : ojson(l.text_encoder);
    if (l.family == ModelFamily::SDXL) {
      parts["text_encoder_2"] = l.text_encoder_2.empty() ? ojson(nullptr) : ojson(l.text_encoder_2);
    }
    j["components"] = parts;
    if (!l.wrapper.empty()) j["wrapper"] = l.wrapper;
    if (l.ema_keys) j["ema_keys_ignored"] = l.ema_keys;
    if (const Tensor* w = file.find(l.wrapper + l.unet + "input_blocks.0.0.weight");
        w && w->dim() == 4) {
      j["unet_in_channels"] = w->size(1);  // 9: an inpainting model
    }
  } catch (const Error& e) {
    j["family"] = "unsupported";
    j["reason"] = e.what();
  }
  return j;
}

ojson describe_file(const std::string& path, bool with_tensors) {
  TensorFile file = load_tensor_file(path);
  WeightStore ws;
  ws.add_tensors(file);
  ws.set_label(path);
  std::vector<std::string> keys;
  for (const auto& t : file.tensors) keys.push_back(t.name);
  ojson j;
  if (looks_like_ip_adapter(ws)) {
    j = describe_adapter(ws, path);
  } else if (looks_like_sd_checkpoint(keys)) {
    j = describe_sd_checkpoint(file, keys);
  } else {
    j["kind"] = "checkpoint";
  }
  j["path"] = path;
  j["format"] = file.format;
  if (file.format == "pdparams") {
    // As stored: a model folder renames and transposes a CLIP vision encoder's on load.
    j["layout"] =
        "Paddle (paddle.save state dict of numpy arrays): Paddle names, Linear weights [in, out]";
  }
  add_tensor_totals(file, j);
  if (!file.metadata.empty()) j["metadata"] = file.metadata;
  if (with_tensors) j["tensors"] = tensor_list(file);
  return j;
}

ojson describe_model_folder(const std::string& dir) {
  const std::string config_path = (fs::path(dir) / "config.json").string();
  const nlohmann::json config = read_json_file(config_path);
  ojson j;
  const std::string weights = find_weights_file(dir);
  if (is_clip_vision_config(config)) {
    j["kind"] = "image-encoder";
    j["class"] = "CLIPVisionModelWithProjection";
    for (const char* k :
         {"hidden_size", "projection_dim", "num_hidden_layers", "num_attention_heads",
          "intermediate_size", "image_size", "patch_size", "hidden_act"}) {
      if (config.contains(k)) j[k] = config[k];
    }
    // The model's own config reader, so defaults (e.g. patch_size) agree with what loads.
    j["num_tokens"] = ClipVisionConfig::from_json(config, config_path).num_tokens();
  } else {
    j["kind"] = "model";
    if (config.contains("_class_name")) {
      j["class"] = config["_class_name"];
    } else if (config.contains("architectures") && config["architectures"].is_array() &&
               !config["architectures"].empty()) {
      j["class"] = config["architectures"][0];
    } else {
      j["class"] = nullptr;
    }
  }
  j["path"] = dir;
  j["config"] = config_path;
  if (weights.empty()) {
    j["weights"] = nullptr;
  } else {
    j["weights"] = weights;
    // Only the totals: whether the weights look like an adapter does not matter here.
    add_tensor_totals(load_tensor_file(weights), j);
  }
  return j;
}

ojson describe_pipeline(const std::string& dir) {
  const std::string index_path = (fs::path(dir) / "model_index.json").string();
  const nlohmann::json index = read_json_file(index_path);
  ojson j;
  j["kind"] = "diffusers-pipeline";
  j["path"] = dir;
  j["class"] = index.value("_class_name", "");
  ojson comps = ojson::object();
  for (auto it = index.begin(); it != index.end(); ++it) {
    if (it.key().empty() || it.key()[0] == '_' || !it.value().is_array()) continue;
    ojson c;
    if (it.value().size() == 2 && it.value()[1].is_string()) c["class"] = it.value()[1];
    const fs::path sub = fs::path(dir) / it.key();
    c["present"] = fs::is_directory(sub);
    if (fs::is_regular_file(sub / "config.json")) {
      const std::string w = find_weights_file(sub.string());
      c["weights"] = w.empty() ? ojson(nullptr) : ojson(w);
    }
    comps[it.key()] = c;
  }
  j["components"] = comps;
  return j;
}

}  // namespace

ojson inspect_path(const std::string& path, bool with_tensors) {
  if (!fs::exists(path)) throw Error("no such file or folder", path);
  if (fs::is_directory(path)) {
    if (fs::is_regular_file(fs::path(path) / "model_index.json")) return describe_pipeline(path);
    if (fs::is_regular_file(fs::path(path) / "config.json")) return describe_model_folder(path);
    throw Error("not a diffusers pipeline (model_index.json) nor a model folder (config.json)",
                path);
  }
  return describe_file(path, with_tensors);
}

std::string inspect_to_text(const ojson& r) {
  std::ostringstream o;
  const std::string kind = r.value("kind", "");
  o << r.value("path", "") << ": " << kind << "\n";
  if (kind == "ip-adapter") {
    o << "  variant:             " << r["variant"].get<std::string>() << "\n";
    o << "  image tokens:        "
      << (r["num_tokens"].is_null()
              ? std::string("from the image encoder (") + r.value("num_tokens_note", "") + ")"
              : std::to_string(r["num_tokens"].get<int64_t>()))
      << "\n";
    o << "  cross-attention dim: " << r["cross_attention_dim"] << "\n";
    o << "  image feature:       " << r["image_feature"].get<std::string>() << ", width "
      << r["image_embed_dim"] << "\n";
    o << "  IP attention layers: " << r["ip_layers"] << " (base: " << r["base"].get<std::string>()
      << ")\n";
    if (r.contains("resampler")) o << "  resampler:           " << r["resampler"].dump() << "\n";
  } else if (kind == "image-encoder" || kind == "model") {
    o << "  class:   " << (r["class"].is_null() ? "?" : r["class"].get<std::string>()) << "\n";
    for (const char* k : {"hidden_size", "projection_dim", "num_hidden_layers",
                          "num_attention_heads", "image_size", "patch_size", "num_tokens"}) {
      if (r.contains(k)) o << "  " << k << ": " << r[k] << "\n";
    }
    o << "  weights: "
      << (r["weights"].is_null() ? "(none found)" : r["weights"].get<std::string>()) << "\n";
  } else if (kind == "sd-checkpoint") {
    o << "  family: " << r["family"].get<std::string>() << "\n";
    if (r.contains("reason")) o << "  refused: " << r["reason"].get<std::string>() << "\n";
    if (r.contains("components")) {
      for (auto it = r["components"].begin(); it != r["components"].end(); ++it) {
        o << "  " << it.key() << ": "
          << (it.value().is_null() ? "(not in the file)" : it.value().get<std::string>() + "*")
          << "\n";
      }
    }
    if (r.contains("wrapper")) o << "  wrapper: " << r["wrapper"].get<std::string>() << "*\n";
    if (r.contains("unet_in_channels"))
      o << "  unet in_channels: " << r["unet_in_channels"] << "\n";
    if (r.contains("ema_keys_ignored")) {
      o << "  EMA copy (model_ema.*): " << r["ema_keys_ignored"] << " tensors, not used\n";
    }
  } else if (kind == "diffusers-pipeline") {
    o << "  class: " << r["class"].get<std::string>() << "\n";
    for (auto it = r["components"].begin(); it != r["components"].end(); ++it) {
      o << "  " << it.key() << ": " << it.value().value("class", "") << "  "
        << (it.value().value("present", false) ? "" : "(missing)") << "\n";
    }
  }
  if (r.contains("layout")) o << "  layout:  " << r["layout"].get<std::string>() << "\n";
  if (r.contains("num_tensors")) {
    o << "  tensors: " << r["num_tensors"] << ", " << r["tensor_bytes"] << " bytes, dtypes "
      << r["dtypes"].dump() << "\n";
  }
  if (r.contains("tensors")) {
    for (const auto& t : r["tensors"]) {
      o << "    " << t["name"].get<std::string>() << "  " << t["dtype"].get<std::string>() << " "
        << shape_str(t["shape"].get<std::vector<int64_t>>()) << "  " << t["bytes"] << " B\n";
    }
  }
  return o.str();
}

}  // namespace ipa

namespace ipa {

std::string inspect_model(const std::string& path, InspectFormat format, bool list_tensors,
                          const std::string& revision) {
  const auto report = inspect_path(resolve_model_source(path, revision), list_tensors);
  return format == InspectFormat::Json ? report.dump(1) + "\n" : inspect_to_text(report);
}

}  // namespace ipa
