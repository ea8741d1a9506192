// A loaded IP-Adapter checkpoint: its description, the image projection, and the
// `ip_adapter.<k>.to_{k,v}_ip.weight` tensors the UNet's attn2 layers take.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "adapter/adapter_info.h"
#include "adapter/image_proj.h"
#include "models/clip_vision.h"

namespace ipa {


class IpAdapter {
 public:
  // Reads a released `.bin` or `.safetensors` adapter, unchanged.
  static std::shared_ptr<IpAdapter> load(const std::string& path);

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

 private:
  std::string path_;
  AdapterInfo info_;
  WeightStore weights_;
  std::unique_ptr<ImageProjection> projection_;
};

// In the h94/IP-Adapter layout (`models/…`, `sdxl_models/…`, each with `image_encoder/`), finds
// the encoder folder that fits the adapter by its widths (not its name): the adapter's own
// folder's `image_encoder/` first, then sibling folders' `image_encoder/`. Throws when none fits,
// listing what was tried.
std::string find_image_encoder_for(const IpAdapter& adapter);

}  // namespace ipa
