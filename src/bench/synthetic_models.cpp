#include "bench/synthetic_models.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "adapter/adapter_info.h"
#include "adapter/image_proj.h"
#include "bench/random_weights.h"
#include "formats/json_file.h"
#include "image/encode_png.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/unet/config.h"
#include "models/unet/unet.h"
#include "models/vae/autoencoder_kl.h"
#include "tensor/block_pool.h"
#include "weights/ip_layer_map.h"

namespace fs = std::filesystem;

namespace ipa::bench {

namespace {

using Log = std::function<void(const std::string&)>;

// Bumped when the generated values or layout change, so old caches are not reused.
constexpr int kFormatVersion = 1;

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
  WeightStore store;
  store.set_label("synthesized " + what);
  WeightRecorder rec(store);
  load(store);
  return rec.requested();
}

// The UNet's weight names and its IP layers, from its loader run on placeholders.
struct UNetRecord {
  std::vector<TensorSpec> weights;
  std::vector<TensorSpec> ip_layers;  // "ip_adapter.<k>.to_{k,v}_ip.weight"
};

UNetRecord record_unet(const unet::UNetConfig& config) {
  UNetRecord r;
  r.weights = record_weights("UNet", [&](WeightStore& store) {
    const auto unet = unet::UNet2DConditionModel::load(config, store.scope(""));
    for (int i = 0; i < unet.num_ip_layers(); ++i) {
      const auto& l = unet.ip_layer(i);
      const Shape shape = {l.inner_dim, l.cross_attention_dim};
      r.ip_layers.push_back(
          TensorSpec{"ip_adapter." + ip_key_weight_name(l.checkpoint_index), shape});
      r.ip_layers.push_back(
          TensorSpec{"ip_adapter." + ip_value_weight_name(l.checkpoint_index), shape});
    }
  });
  return r;
}

// The adapter's image projection as released for SD1.5: ip-adapter_sd15 (ImageProjModel, 4
// tokens from image_embeds) or ip-adapter-plus_sd15 (Resampler over the penultimate hidden
// states: dim = cross_attention_dim, depth 4, 12 heads of 64, 16 queries, ff_mult 4).
AdapterInfo adapter_info(const std::string& variant, int64_t cross_attention_dim,
                         const ClipVisionConfig& encoder) {
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
    r.dim = cross_attention_dim;
    r.depth = 4;
    r.heads = 12;
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
  const fs::path cfg(spec.configs_dir);
  const fs::path sd = cfg / "sd15";
  const fs::path unet_cfg = require_file(sd / "unet" / "config.json");
  const fs::path vae_cfg = require_file(sd / "vae" / "config.json");
  const fs::path text_cfg = require_file(sd / "text_encoder" / "config.json");
  const fs::path sched_cfg = require_file(sd / "scheduler" / "scheduler_config.json");
  const fs::path vision_cfg = require_file(cfg / "image_encoder_vit-h" / "config.json");

  // The folder name fingerprints everything the files depend on.
  uint64_t h = fnv1a(std::to_string(kFormatVersion) + "/" + std::to_string(spec.seed));
  for (const auto& p : {unet_cfg, vae_cfg, text_cfg, vision_cfg}) h = fnv1a(read_text(p), h);
  char name[64];
  std::snprintf(name, sizeof name, "sd15-vit-h-%016llx", static_cast<unsigned long long>(h));

  SyntheticModels out;
  const fs::path root = fs::path(spec.cache_dir) / name;
  out.root = root.string();
  const fs::path base = root / "sd15";
  const fs::path models = root / "IP-Adapter" / "models";
  const fs::path enc = models / "image_encoder";
  out.base = base.string();
  out.image_encoder = enc.string();
  out.ip_adapter = (models / (spec.adapter_variant == "plus" ? "ip-adapter-plus_sd15.safetensors"
                                                             : "ip-adapter_sd15.safetensors"))
                       .string();
  out.reference_image = (root / "reference.png").string();
  const ClipVisionConfig vision = ClipVisionConfig::from_file(vision_cfg.string());
  const unet::UNetConfig unet_config =
      unet::parse_unet_config(read_json_file(unet_cfg.string()), unet_cfg.string());
  const AdapterInfo info =
      adapter_info(spec.adapter_variant, unet_config.cross_attention_dim, vision);

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
  const fs::path unet_file = base / "unet" / "diffusion_pytorch_model.safetensors";
  const fs::path adapter_file = out.ip_adapter;
  if (!fs::exists(unet_file) || !fs::exists(adapter_file)) {
    const UNetRecord unet = record_unet(unet_config);
    synthesize(unet_file, "UNet", [&] { return unet.weights; });
    synthesize(adapter_file, "IP-Adapter (" + spec.adapter_variant + ")", [&] {
      std::vector<TensorSpec> specs = record_weights(
          "image projection", [&](WeightStore& store) { load_image_projection(store, info); });
      specs.insert(specs.end(), unet.ip_layers.begin(), unet.ip_layers.end());
      return specs;
    });
  }
  copy_file_if_missing(unet_cfg, base / "unet" / "config.json");

  synthesize(base / "text_encoder" / "model.safetensors", "CLIP text encoder", [&] {
    return record_weights("text encoder", [&](WeightStore& store) {
      ClipTextEncoder(
          ClipTextConfig::from_json(read_json_file(text_cfg.string()), text_cfg.string()), store);
    });
  });
  copy_file_if_missing(text_cfg, base / "text_encoder" / "config.json");

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
  return out;
}

}  // namespace ipa::bench
