// A loaded IP-Adapter checkpoint: its description, the image projection, and — once bound to a
// UNet's layers — the `ip_adapter.<k>.to_{k,v}_ip.weight` attention weights (ip_attention.h).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "adapter/adapter_info.h"
#include "adapter/image_proj.h"
#include "adapter/ip_attention.h"
#include "models/clip_vision.h"

namespace ipa {

class IpAdapter {
 public:
  // Reads a released `.bin` or `.safetensors` adapter, unchanged; its linear layers compute in
  // `precision`, with their weights on `device`.
  static std::shared_ptr<IpAdapter> load(const std::string& path,
                                         Precision precision = Precision::F32,
                                         Device device = Device{});

  const std::string& path() const { return path_; }
  const AdapterInfo& info() const { return info_; }
  const WeightStore& weights() const { return weights_; }

  // Throws a clear error when the encoder does not fit (wrong width), saying which encoder
  // the adapter expects. For full-face, fixes num_tokens to the encoder's token count.
  void bind_encoder(const ClipVisionConfig& encoder, const std::string& encoder_dir);
  // Whether the encoder fits (no error).
  bool fits_encoder(const ClipVisionConfig& encoder) const;

  // feature → image tokens [B, T, C].
  Tensor project(const Tensor& feature) const { return projection_->forward(feature); }

  // Loads the per-layer attention weights for a UNet with these attn2 layers (every check of
  // IpAttentionWeights::load). Replaces an earlier binding.
  void bind_unet(const std::vector<unet::CrossAttentionLayer>& layers);
  // Throws when bind_unet was not called (or the weights were released).
  const IpAttentionWeights& attention() const;
  // Drops the attention weights (a one-shot pipeline, once their keys are projected).
  void release_attention() { attention_.reset(); }

 private:
  std::string path_;
  AdapterInfo info_;
  WeightStore weights_;
  std::unique_ptr<ImageProjection> projection_;
  std::unique_ptr<IpAttentionWeights> attention_;
};

// In the h94/IP-Adapter layout (`models/…`, `sdxl_models/…`, each with `image_encoder/`), finds
// the encoder folder that fits the adapter by its widths (not its name): the adapter's own
// folder's `image_encoder/` first, then the adapter's own folder when it is an encoder itself
// (the PaddleNLP mirror's root: ip-adapter_sdxl.safetensors beside config.json and the
// encoder's weights), then sibling folders' `image_encoder/`. Throws when none fits, listing what
// was tried.
std::string find_image_encoder_for(const IpAdapter& adapter);

}  // namespace ipa
