#include "bench/synthetic_models.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "adapter/adapter_info.h"
#include "adapter/image_proj.h"
#include "adapter/ip_layer_map.h"
#include "bench/random_weights.h"
#include "formats/json_file.h"
#include "image/encode_png.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/controlnet/controlnet.h"
#include "models/unet/config.h"
#include "models/unet/unet.h"
#include "models/vae/autoencoder_kl.h"
#include "tensor/block_pool.h"

namespace fs = std::filesystem;

namespace ipa::bench {

namespace {

using Log = std::function<void(const std::string&)>;

// Bumped when the generated values or layout change, so old caches are not reused.
constexpr int kFormatVersion = 2;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error("cannot read", p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

uint64_t fnv1a(const std::string& s, uint64_t h = 0xCBF29CE484222325ull) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

fs::path require_file(const fs::path& p) {
  if (!fs::is_regular_file(p)) throw Error("config file not found (see --configs)", p.string());
  return p;
}

void copy_file_if_missing(const fs::path& from, const fs::path& to) {
  if (fs::exists(to)) return;
  fs::create_directories(to.parent_path());
  const fs::path tmp = to.string() + ".partial";
  fs::copy_file(require_file(from), tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, to);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void write_model(const fs::path& file, const std::vector<TensorSpec>& specs, uint64_t seed,
                 const std::string& what, const Log& log) {
  fs::create_directories(file.parent_path());
  const auto t0 = std::chrono::steady_clock::now();
  int64_t params = 0;
  for (const auto& s : specs) params += numel_of(s.shape);
  if (log) {
    log("bench: writing random " + what + " (" + std::to_string(specs.size()) + " tensors, " +
        std::to_string(params / 1000000) + "M parameters, F16) to " + file.string());
  }
  write_random_safetensors(file.string(), specs, seed, [&](int64_t done, int64_t total) {
    if (log && total > 50000000) {
      log("bench:   " + what + " " + std::to_string(100 * done / total) + "%");
    }
  });
  pool_trim();
  if (log) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f s", seconds_since(t0));
    log("bench:   " + what + " done in " + buf);
  }
}

// The names and shapes a model's loader asks for, with `load` run on placeholders.
std::vector<TensorSpec> record_weights(const std::string& what,
                                       const std::function<void(WeightStore&)>& load) {
  RecordingWeightStore store;
  store.set_label("synthesized " + what);
  load(store);
  return store.requested();
}

// The adapter's per-layer attention weights for a UNet with this config.
std::vector<TensorSpec> ip_layer_specs(const unet::UNetConfig& config) {
  std::vector<TensorSpec> out;
  const auto layers = unet::cross_attention_layers(config);
  const auto map = ip_layer_map(layers);
  for (size_t i = 0; i < layers.size(); ++i) {
    const Shape shape = {layers[i].inner_dim(), layers[i].cross_attention_dim};
    out.push_back({"ip_adapter." + ip_key_weight_name(map[i].checkpoint_index), shape});
    out.push_back({"ip_adapter." + ip_value_weight_name(map[i].checkpoint_index), shape});
  }
  return out;
}

// The adapter's image projection as released: basic = ImageProjModel (4 tokens from
// image_embeds: ip-adapter_sd15, ip-adapter_sdxl); plus = Resampler over the penultimate hidden
// states, depth 4, heads of 64, 16 queries, ff_mult 4, dim = cross_attention_dim with 12 heads
// (ip-adapter-plus_sd15) or dim 1280 with 20 heads (ip-adapter-plus_sdxl_vit-h).
AdapterInfo adapter_info(const std::string& arch, const std::string& variant,
                         int64_t cross_attention_dim, const ClipVisionConfig& encoder) {
  AdapterInfo info;
  info.cross_attention_dim = cross_attention_dim;
  if (variant == "basic") {
    info.variant = AdapterVariant::Basic;
    info.feature = EncoderFeature::ImageEmbeds;
    info.num_tokens = 4;
    info.image_embed_dim = encoder.projection_dim;
  } else if (variant == "plus") {
    info.variant = AdapterVariant::Plus;
    info.feature = EncoderFeature::PenultimateHidden;
    info.num_tokens = 16;
    info.image_embed_dim = encoder.hidden_size;
    ResamplerShape& r = info.resampler;
    r.dim = arch == "sdxl" ? 1280 : cross_attention_dim;
    r.depth = 4;
    r.heads = arch == "sdxl" ? 20 : 12;
    r.dim_head = 64;
    r.num_queries = 16;
    r.ff_mult = 4;
    r.embedding_dim = encoder.hidden_size;
    r.output_dim = cross_attention_dim;
  } else {
    throw Error("unknown adapter variant '" + variant + "' (basic or plus)");
  }
  return info;
}

void write_reference_image(const fs::path& path) {
  if (fs::exists(path)) return;
  const int n = 256;
  image::Image img(n, n);
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      uint8_t* p = img.pixel(x, y);
      p[0] = static_cast<uint8_t>(x);
      p[1] = static_cast<uint8_t>(y);
      p[2] = static_cast<uint8_t>(((x / 32 + y / 32) % 2) * 200 + 20);
    }
  }
  const std::string tmp = path.string() + ".partial.png";
  image::write_png(tmp, img);
  fs::rename(tmp, path);
}

}  // namespace

std::string ensure_reference_image(const std::string& dir) {
  fs::create_directories(dir);
  const fs::path p = fs::path(dir) / "reference.png";
  write_reference_image(p);
  return p.string();
}

std::string default_cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    return (fs::path(x) / "ipadapter-bench").string();
  }
  if (const char* h = std::getenv("HOME"); h && *h) {
    return (fs::path(h) / ".cache" / "ipadapter-bench").string();
  }
  return (fs::temp_directory_path() / "ipadapter-bench").string();
}

SyntheticModels ensure_synthetic_models(const SyntheticModelsSpec& spec, const Log& log) {
  if (spec.arch != "sd15" && spec.arch != "sdxl") {
    throw Error("unknown architecture '" + spec.arch + "' (sd15 or sdxl)");
  }
  const bool xl = spec.arch == "sdxl";
  const bool plus = spec.adapter_variant == "plus";
  const fs::path cfg(spec.configs_dir);
  const fs::path sd = cfg / spec.arch;
  const fs::path unet_cfg = require_file(sd / "unet" / "config.json");
  const fs::path vae_cfg = require_file(sd / "vae" / "config.json");
  const fs::path sched_cfg = require_file(sd / "scheduler" / "scheduler_config.json");
  std::vector<std::string> text_encoders = {"text_encoder"};
  if (xl) text_encoders.push_back("text_encoder_2");
  for (const auto& t : text_encoders) require_file(sd / t / "config.json");
  // The released pairs: ip-adapter_sdxl uses ViT-bigG; the other three ViT-H.
  const std::string encoder_name = xl && !plus ? "image_encoder_vit-bigg" : "image_encoder_vit-h";
  const fs::path vision_cfg = require_file(cfg / encoder_name / "config.json");

  // The folder name fingerprints everything the files depend on.
  uint64_t h = fnv1a(std::to_string(kFormatVersion) + "/" + std::to_string(spec.seed));
  for (const auto& p : {unet_cfg, vae_cfg, vision_cfg}) h = fnv1a(read_text(p), h);
  for (const auto& t : text_encoders) h = fnv1a(read_text(sd / t / "config.json"), h);
  char name[96];
  std::snprintf(name, sizeof name, "%s-%s-%016llx", spec.arch.c_str(),
                encoder_name.substr(std::string("image_encoder_").size()).c_str(),
                static_cast<unsigned long long>(h));

  SyntheticModels out;
  const fs::path root = fs::path(spec.cache_dir) / name;
  out.root = root.string();
  const fs::path base = root / spec.arch;
  const fs::path models = root / "IP-Adapter" / (xl ? "sdxl_models" : "models");
  const fs::path enc = models / "image_encoder";
  out.base = base.string();
  out.image_encoder = enc.string();
  const std::string adapter_name = xl ? (plus ? "ip-adapter-plus_sdxl_vit-h" : "ip-adapter_sdxl")
                                      : (plus ? "ip-adapter-plus_sd15" : "ip-adapter_sd15");
  out.ip_adapter = (models / (adapter_name + ".safetensors")).string();
  out.reference_image = (root / "reference.png").string();
  const ClipVisionConfig vision = ClipVisionConfig::from_file(vision_cfg.string());
  const unet::UNetConfig unet_config =
      unet::parse_unet_config(read_json_file(unet_cfg.string()), unet_cfg.string());
  const AdapterInfo info =
      adapter_info(spec.arch, spec.adapter_variant, unet_config.cross_attention_dim, vision);

  fs::create_directories(root);
  if (fs::exists(sd / "model_index.json"))
    copy_file_if_missing(sd / "model_index.json", base / "model_index.json");
  copy_file_if_missing(sched_cfg, base / "scheduler" / "scheduler_config.json");
  write_reference_image(out.reference_image);

  // Each file is written once, with the names and shapes its loader asks for.
  auto synthesize = [&](const fs::path& file, const std::string& what,
                        const std::function<std::vector<TensorSpec>()>& specs) {
    if (fs::exists(file)) return;
    write_model(file, specs(), spec.seed, what, log);
    out.generated = true;
  };
  synthesize(base / "unet" / "diffusion_pytorch_model.safetensors", "UNet", [&] {
    return record_weights("UNet", [&](WeightStore& store) {
      unet::UNet2DConditionModel::load(unet_config, store.scope(""));
    });
  });
  copy_file_if_missing(unet_cfg, base / "unet" / "config.json");
  synthesize(out.ip_adapter, "IP-Adapter (" + adapter_name + ")", [&] {
    std::vector<TensorSpec> specs = record_weights(
        "image projection", [&](WeightStore& store) { load_image_projection(store, info); });
    const auto layers = ip_layer_specs(unet_config);
    specs.insert(specs.end(), layers.begin(), layers.end());
    return specs;
  });

  for (const auto& t : text_encoders) {
    const fs::path config_path = sd / t / "config.json";
    const nlohmann::json config_json = read_json_file(config_path.string());
    synthesize(base / t / "model.safetensors", "CLIP " + t, [&] {
      const ClipTextConfig config = ClipTextConfig::from_json(config_json, config_path.string());
      std::vector<TensorSpec> specs =
          record_weights(t, [&](WeightStore& store) { ClipTextEncoder(config, store); });
      // CLIPTextModelWithProjection: the loader takes the projection only where the file has one.
      if (config_json.contains("architectures") &&
          config_json["architectures"].dump().find("WithProjection") != std::string::npos) {
        specs.push_back({"text_projection.weight",
                         {config_json.at("projection_dim").get<int64_t>(), config.hidden_size}});
      }
      return specs;
    });
    copy_file_if_missing(config_path, base / t / "config.json");
  }

  synthesize(base / "vae" / "diffusion_pytorch_model.safetensors", "VAE", [&] {
    return record_weights("VAE", [&](WeightStore& store) {
      vae::AutoencoderKL(vae::VaeConfig::from_file(vae_cfg.string()), store.scope(""));
    });
  });
  copy_file_if_missing(vae_cfg, base / "vae" / "config.json");

  synthesize(enc / "model.safetensors", "CLIP image encoder", [&] {
    return record_weights("image encoder",
                          [&](WeightStore& store) { ClipVisionModel(vision, store.scope("")); });
  });
  copy_file_if_missing(vision_cfg, enc / "config.json");

  if (spec.controlnet) {
    const fs::path cn_cfg = require_file(cfg / ("controlnet_" + spec.arch) / "config.json");
    // Its own folder, fingerprinted by its config (the models above stay cached).
    char cn_name[64];
    std::snprintf(cn_name, sizeof cn_name, "controlnet-%016llx",
                  static_cast<unsigned long long>(fnv1a(read_text(cn_cfg), h)));
    const fs::path cn = root / cn_name;
    out.controlnet = cn.string();
    synthesize(cn / "diffusion_pytorch_model.safetensors", "ControlNet", [&] {
      const auto config = controlnet::load_controlnet_config(cn_cfg.string());
      return record_weights("ControlNet", [&](WeightStore& store) {
        controlnet::ControlNetModel::load(config, store.scope(""));
      });
    });
    copy_file_if_missing(cn_cfg, cn / "config.json");
  }
  return out;
}

}  // namespace ipa::bench
