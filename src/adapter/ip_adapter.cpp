#include "adapter/ip_adapter.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "formats/json_file.h"
#include "models/common/load_layers.h"
#include "weights/model_folder.h"

namespace fs = std::filesystem;

namespace ipa {

std::shared_ptr<IpAdapter> IpAdapter::load(const std::string& path, Precision precision,
                                           Device device) {
  auto a = std::make_shared<IpAdapter>();
  a->path_ = path;
  a->weights_.add_file(path);
  a->weights_.set_label(path);
  a->weights_.set_layer_dtype(layer_dtype(precision));
  a->weights_.set_device(device);
  a->info_ = detect_adapter(a->weights_, path);
  if (a->info_.variant != AdapterVariant::FullFace) {
    a->projection_ = load_image_projection(a->weights_, a->info_);
  }
  return a;
}

void IpAdapter::bind_unet(const std::vector<unet::CrossAttentionLayer>& layers) {
  attention_ = std::make_unique<IpAttentionWeights>(
      IpAttentionWeights::load(weights_.scope("ip_adapter"), layers));
}

const IpAttentionWeights& IpAdapter::attention() const {
  if (!attention_) throw Error("internal error: the IP-Adapter is not bound to a UNet", path_);
  return *attention_;
}

namespace {

int64_t needed_width(const AdapterInfo& info, const ClipVisionConfig& d) {
  return info.feature == EncoderFeature::ImageEmbeds ? d.projection_dim : d.hidden_size;
}

std::string known_encoder_name(const AdapterInfo& info) {
  // Widths of the two released encoders (h94: models/image_encoder, sdxl_models/image_encoder).
  const int64_t w = info.image_embed_dim;
  if (info.feature == EncoderFeature::ImageEmbeds) {
    if (w == 1024) return " (OpenCLIP ViT-H/14, h94 models/image_encoder)";
    if (w == 1280) return " (OpenCLIP ViT-bigG/14, h94 sdxl_models/image_encoder)";
  } else {
    if (w == 1280) return " (OpenCLIP ViT-H/14, h94 models/image_encoder)";
    if (w == 1664) return " (OpenCLIP ViT-bigG/14, h94 sdxl_models/image_encoder)";
  }
  return "";
}

}  // namespace

bool IpAdapter::fits_encoder(const ClipVisionConfig& encoder) const {
  return needed_width(info_, encoder) == info_.image_embed_dim;
}

void IpAdapter::bind_encoder(const ClipVisionConfig& encoder, const std::string& encoder_dir) {
  if (!fits_encoder(encoder)) {
    const bool embeds = info_.feature == EncoderFeature::ImageEmbeds;
    throw Error("the image encoder does not fit this adapter: the " +
                    std::string(variant_name(info_.variant)) + " adapter " + path_ + " takes " +
                    (embeds ? "image_embeds of width " : "hidden states of width ") +
                    std::to_string(info_.image_embed_dim) + known_encoder_name(info_) +
                    ", but this encoder gives width " +
                    std::to_string(needed_width(info_, encoder)) + " (hidden_size " +
                    std::to_string(encoder.hidden_size) + ", projection_dim " +
                    std::to_string(encoder.projection_dim) + ")",
                encoder_dir);
  }
  if (info_.variant == AdapterVariant::FullFace) {
    info_.num_tokens = encoder.num_tokens();
    if (!projection_) projection_ = load_image_projection(weights_, info_);
  }
}

std::string find_image_encoder_for(const IpAdapter& adapter) {
  fs::path own = fs::path(adapter.path()).parent_path();
  if (own.empty()) own = ".";
  std::vector<fs::path> candidates = {own / "image_encoder"};
  if (fs::is_regular_file(own / "config.json") &&
      is_clip_vision_config(read_json_file((own / "config.json").string()))) {
    candidates.push_back(own);
  }
  const fs::path root = own.parent_path();
  if (!root.empty() && fs::is_directory(root)) {
    std::vector<fs::path> siblings;
    for (const auto& e : fs::directory_iterator(root)) {
      if (e.is_directory() && e.path() != own) siblings.push_back(e.path() / "image_encoder");
    }
    std::sort(siblings.begin(), siblings.end());
    candidates.insert(candidates.end(), siblings.begin(), siblings.end());
  }
  std::string tried;
  for (const auto& c : candidates) {
    if (!fs::is_regular_file(c / "config.json")) continue;
    const ClipVisionConfig encoder = ClipVisionConfig::from_file((c / "config.json").string());
    if (adapter.fits_encoder(encoder)) return c.string();
    tried += "\n  " + c.string() + " (hidden_size " + std::to_string(encoder.hidden_size) +
             ", projection_dim " + std::to_string(encoder.projection_dim) + ")";
  }
  const bool embeds = adapter.info().feature == EncoderFeature::ImageEmbeds;
  throw Error("no image encoder given and none found beside the adapter that fits it: it needs " +
                  std::string(embeds ? "projection_dim " : "hidden_size ") +
                  std::to_string(adapter.info().image_embed_dim) +
                  known_encoder_name(adapter.info()) +
                  (tried.empty() ? std::string("; no image_encoder/ folder was found")
                                 : "; tried:" + tried) +
                  "\npass --image-encoder DIR",
              adapter.path());
}

}  // namespace ipa
