#include "pipeline/image_prompt_stage.h"

#include "adapter/image_prompt.h"
#include "models/common/load_layers.h"

namespace ipa {

ImagePromptStage::ImagePromptStage(const std::vector<AdapterOptions>& adapters,
                                   const std::vector<unet::CrossAttentionLayer>& unet_layers,
                                   ModelFamily family, Precision precision, const LogFn& log) {
  for (const AdapterOptions& o : adapters) {
    Slot slot;
    slot.adapter = IpAdapter::load(o.file, precision);
    const AdapterInfo& info = slot.adapter->info();
    // Released adapters say their family by their layer count; tiny test models of other sizes
    // fall through to the width and layer checks of bind_unet.
    const std::string want = family_name(family);
    if (info.base != "unknown" && info.base != want) {
      throw Error("this IP-Adapter is made for " + info.base + " (" +
                      std::to_string(info.ip_layers) + " attention layers, image tokens " +
                      std::to_string(info.cross_attention_dim) + " wide), but the base model is " +
                      want + " (" + std::to_string(unet_layers.size()) +
                      " cross-attention layers, " +
                      std::to_string(unet_layers.empty() ? 0 : unet_layers[0].cross_attention_dim) +
                      " wide)",
                  o.file);
    }
    slot.adapter->bind_unet(unet_layers);
    slot.encoder_dir =
        o.image_encoder.empty() ? find_image_encoder_for(*slot.adapter) : o.image_encoder;
    auto it = encoders_.find(slot.encoder_dir);
    if (it == encoders_.end()) {
      Encoder e;
      e.folder = open_model_folder(slot.encoder_dir, layer_dtype(precision));
      e.config = ClipVisionConfig::from_json(e.folder.config, e.folder.config_path);
      it = encoders_.emplace(slot.encoder_dir, std::move(e)).first;
    }
    slot.adapter->bind_encoder(it->second.config, slot.encoder_dir);  // does it fit?
    const auto unused = slot.adapter->weights().unused_keys();
    if (log) {
      log("ip-adapter: " + o.file + " (" + variant_name(info.variant) + ", " +
          std::to_string(*slot.adapter->info().num_tokens) + " tokens, " +
          std::to_string(info.ip_layers) + " IP layers)");
      log("image encoder: " + slot.encoder_dir);
      // Reported once everything is bound, so only what nobody reads is listed.
      if (!unused.empty()) {
        log("ip-adapter: " + std::to_string(unused.size()) + " tensors ignored, e.g. " + unused[0]);
      }
    }
    slots_.push_back(std::move(slot));
  }
}

AdapterDescription ImagePromptStage::describe(size_t i) const {
  const Slot& s = slots_.at(i);
  const AdapterInfo& info = s.adapter->info();
  AdapterDescription d;
  d.file = s.adapter->path();
  d.image_encoder = s.encoder_dir;
  d.variant = variant_name(info.variant);
  d.tokens_per_image = info.num_tokens.value_or(0);
  d.width = info.cross_attention_dim;
  return d;
}

std::vector<AdapterTokens> ImagePromptStage::encode(const std::vector<ImagePrompt>& prompts,
                                                    ImagePrep prep) {
  if (prompts.size() != slots_.size()) {
    throw Error("internal error: " + std::to_string(prompts.size()) + " image prompts for " +
                std::to_string(slots_.size()) + " adapters");
  }
  const image::ClipResizeMode mode = prep == ImagePrep::Squash ? image::ClipResizeMode::kSquash
                                                               : image::ClipResizeMode::kCenterCrop;
  std::vector<AdapterTokens> out;
  for (size_t i = 0; i < slots_.size(); ++i) {
    encoder(slots_[i].encoder_dir);
    const ImagePromptEncoder encoder(encoders_.at(slots_[i].encoder_dir).model, slots_[i].adapter,
                                     slots_[i].encoder_dir);
    const ImagePromptEmbeds embeds = encoder.encode(prompts[i].images, mode);
    out.push_back({concat_image_tokens(embeds.cond), concat_image_tokens(embeds.uncond)});
  }
  return out;
}

const ClipVisionModel& ImagePromptStage::encoder(const std::string& dir) {
  Encoder& e = encoders_.at(dir);
  if (!e.model) {
    e.model = std::make_shared<const ClipVisionModel>(e.config, e.folder.weights.scope(""));
  }
  return *e.model;
}

void ImagePromptStage::load_encoders() {
  for (const auto& s : slots_) encoder(s.encoder_dir);
}

void ImagePromptStage::release_attention_weights() {
  for (auto& s : slots_) s.adapter->release_attention();
}

void ImagePromptStage::release_encoders() {
  for (auto& [dir, e] : encoders_) e.model.reset();
}

}  // namespace ipa
