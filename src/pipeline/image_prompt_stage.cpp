#include "pipeline/image_prompt_stage.h"

#include <cmath>
#include "adapter/image_prompt.h"

#include "models/common/load_layers.h"
#include "ops/ops.h"

namespace ipa {

ImagePromptStage::ImagePromptStage(const std::vector<AdapterOptions>& adapters,
                                   const std::vector<unet::CrossAttentionLayer>& unet_layers,
                                   ModelFamily family, Precision precision,
                                   const std::string& variant, const LogFn& log, Device device)
    : device_(device) {
  for (const AdapterOptions& o : adapters) {
    Slot slot;
    slot.adapter = IpAdapter::load(o.file, precision, device);
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
      e.folder = open_model_folder(slot.encoder_dir, layer_dtype(precision), variant);
      e.folder.weights.set_device(device);
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

namespace {

Tensor to_tensor(const FloatArray& a) {
  return Tensor::from_floats(Shape(a.shape.begin(), a.shape.end()), a.data.data());
}

}  // namespace

void ImagePromptStage::check(size_t i, const ImagePrompt& p) const {
  const std::string field = "ip_adapters[" + std::to_string(i) + "]";
  const AdapterInfo& info = slots_.at(i).adapter->info();
  for (const FloatArray* a : {&p.clip_feature, &p.uncond_clip_feature}) {
    if (a->empty()) continue;
    const bool embeds = info.feature == EncoderFeature::ImageEmbeds;
    const size_t rank = embeds ? 2 : 3;
    const std::string name = field + (a == &p.clip_feature ? ".image_embeds clip_feature"
                                                           : ".image_embeds uncond_clip_feature");
    if (a->shape.size() != rank || a->shape.back() != info.image_embed_dim) {
      throw Error(name + ": the " + variant_name(info.variant) + " adapter takes " +
                  (embeds ? "image_embeds [N, " : "hidden states [N, L, ") +
                  std::to_string(info.image_embed_dim) + "], got " + shape_str(a->shape) +
                  " (embeddings made with another image encoder?)");
    }
  }
  if (!p.uncond_clip_feature.empty() && p.uncond_clip_feature.shape != p.clip_feature.shape) {
    throw Error(field + ".image_embeds: uncond_clip_feature " +
                shape_str(p.uncond_clip_feature.shape) + " must have clip_feature's shape " +
                shape_str(p.clip_feature.shape));
  }
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
    const ImagePrompt& p = prompts[i];
    check(i, p);
    const IpAdapter& adapter = *slots_[i].adapter;
    // Precomputed features need no encoder, unless a plus / full-face adapter needs the
    // zero-image unconditional feature the file does not have.
    const bool basic = adapter.info().feature == EncoderFeature::ImageEmbeds;
    const bool need_encoder = p.clip_feature.empty() || (p.uncond_clip_feature.empty() && !basic);
    std::unique_ptr<ImagePromptEncoder> enc;
    if (need_encoder) {
      encoder(slots_[i].encoder_dir);
      enc = std::make_unique<ImagePromptEncoder>(encoders_.at(slots_[i].encoder_dir).model,
                                                 slots_[i].adapter, slots_[i].encoder_dir);
    }
    // Features of the images (or given), and of the unconditional half.
    ImagePromptEncoder::Features f;
    if (!p.clip_feature.empty()) {
      f.cond = to_tensor(p.clip_feature);
      f.uncond = !p.uncond_clip_feature.empty() ? to_tensor(p.uncond_clip_feature)
                 : basic                        ? Tensor::zeros(f.cond.shape())
                                                : enc->uncond_feature(f.cond.size(0));
    } else if (!p.negative_images.empty()) {
      f.cond = enc->feature(enc->pixels(p.images, mode));
      f.uncond = repeat_rows_to(enc->feature(enc->pixels(p.negative_images, mode)), f.cond.size(0));
    } else {
      f = enc->features(enc->pixels(p.images, mode));
    }
    if (!p.image_weights.empty()) {
      // ComfyUI's IPAdapterEncoder weight: on the conditional features, before combining.
      std::vector<float> w(p.image_weights);
      Shape s(static_cast<size_t>(f.cond.dim()), 1);
      s[0] = f.cond.size(0);
      f.cond = ops::mul(f.cond, Tensor::from_vector(s, w).to(f.cond.device()));
    }
    if (p.combine != CombineImages::Concat && f.cond.size(0) > 1) {
      f.cond = combine_features(f.cond, p.combine);
      f.uncond = ops::slice(f.uncond, 0, 0, 1);
    }
    // One projection call for both halves (as encode_pixels).
    const int64_t n = f.cond.size(0);
    // Given features, zeros and combined features are made on the host: moved to the
    // adapter's device here (no-ops for the encoder's outputs, which are there).
    const Tensor tokens =
        adapter.project(ops::concat({f.cond.to(device_), f.uncond.to(device_)}, 0));
    const Tensor cond = ops::slice(tokens, 0, 0, n), uncond = ops::slice(tokens, 0, n, 2 * n);
    AdapterTokens t;
    t.images = cond.size(0);
    t.tokens_per_image = cond.size(1);
    t.cond = concat_image_tokens(cond);
    t.uncond = concat_image_tokens(uncond);
    out.push_back(std::move(t));
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
