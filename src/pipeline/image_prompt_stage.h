// The image-prompt stage: every loaded IP-Adapter with its image encoder. At load each adapter
// is read, checked against the base model (its attention weights bound to the UNet's attn2
// layers) and paired with an encoder that fits it; encoders are shared between adapters that
// use the same folder and converted on first use. encode() turns each adapter's reference
// images into its image tokens, as the reference's get_image_embeds does.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapter/ip_adapter.h"
#include "ipadapter/engine.h"
#include "models/clip_vision.h"
#include "weights/model_folder.h"

namespace ipa {

// One adapter's tokens for one request, before guidance batching.
struct AdapterTokens {
  Tensor cond, uncond;  // [1, images · tokens, width]: several images' tokens concatenated
  int64_t images = 0;   // after combining
  int64_t tokens_per_image = 0;
};

class ImagePromptStage {
 public:
  ImagePromptStage(const std::vector<AdapterOptions>& adapters,
                   const std::vector<unet::CrossAttentionLayer>& unet_layers, ModelFamily family,
                   Precision precision, const std::string& variant, const LogFn& log,
                   Device device = Device{});

  size_t size() const { return slots_.size(); }
  const IpAdapter& adapter(size_t i) const { return *slots_.at(i).adapter; }
  const std::string& encoder_dir(size_t i) const { return slots_.at(i).encoder_dir; }
  AdapterDescription describe(size_t i) const;

  // prompts[i] for adapter i (sizes must agree; the engine checks): images or precomputed
  // features → features (negative images for the unconditional half; per-image weights;
  // combined) → tokens.
  std::vector<AdapterTokens> encode(const std::vector<ImagePrompt>& prompts, ImagePrep prep);
  // Throws ipa::Error naming the field when a prompt does not fit adapter i (feature widths of
  // precomputed embeddings).
  void check(size_t i, const ImagePrompt& prompt) const;
  // Encoders are loaded by load_encoders() or on first use, and kept until released.
  void load_encoders();
  void release_encoders();
  // Drops every adapter's attention weights (one-shot, after IpAttention::precompute).
  void release_attention_weights();

 private:
  struct Encoder {
    ModelFolder folder;
    ClipVisionConfig config;
    std::shared_ptr<const ClipVisionModel> model;  // null until loaded
  };
  const ClipVisionModel& encoder(const std::string& dir);
  struct Slot {
    std::shared_ptr<IpAdapter> adapter;
    std::string encoder_dir;
  };
  std::vector<Slot> slots_;
  std::map<std::string, Encoder> encoders_;  // by folder
  Device device_;                            // of the adapters' and encoders' weights
};

}  // namespace ipa
