// The three image projections of IP-Adapter: CLIP feature → image tokens [B, T, C].
#pragma once
#include <memory>
#include <vector>

#include "adapter/adapter_info.h"
#include "ops/layers.h"

namespace ipa {

class ImageProjection {
 public:
  virtual ~ImageProjection() = default;
  // basic: feature [B, P] (image_embeds); plus / full-face: [B, N, E] (hidden_states[-2]).
  virtual Tensor forward(const Tensor& feature) const = 0;
};

// ImageProjModel: y = LayerNorm_C(reshape(x·Wᵀ + b, [B, T, C])).
class ImageProjModel final : public ImageProjection {
 public:
  ImageProjModel(const WeightScope& ws, const AdapterInfo& info);
  Tensor forward(const Tensor& feature) const override;

 private:
  int64_t tokens_, width_;
  ops::Linear proj_;
  ops::LayerNorm norm_;
};

// MLPProjModel (full-face), per token: y = LayerNorm_C(W2·GELU(W1·x + b1) + b2).
class MlpProjModel final : public ImageProjection {
 public:
  MlpProjModel(const WeightScope& ws, const AdapterInfo& info);
  Tensor forward(const Tensor& feature) const override;

 private:
  ops::Linear fc1_, fc2_;
  ops::LayerNorm norm_;
};

// Resampler (plus): a perceiver with learned latent queries. Attention is softmax over
// cat(norm1(x), norm2(latents)) with q and k each scaled by dim_head^-1/4 in the reference,
// i.e. one scale of dim_head^-1/2 on the product.
class Resampler final : public ImageProjection {
 public:
  Resampler(const WeightScope& ws, const AdapterInfo& info);
  Tensor forward(const Tensor& feature) const override;

 private:
  struct Layer {
    ops::LayerNorm norm_x, norm_latents;
    ops::Linear to_q, to_kv, to_out;
    ops::LayerNorm ff_norm;
    ops::Linear ff_in, ff_out;
  };
  ResamplerShape shape_;
  Tensor latents_;  // [1, Q, D]
  ops::Linear proj_in_, proj_out_;
  ops::LayerNorm norm_out_;
  std::vector<Layer> layers_;
};

// Builds the projection the adapter's `image_proj.*` weights describe.
std::unique_ptr<ImageProjection> load_image_projection(const WeightStore& ws,
                                                       const AdapterInfo& info);

}  // namespace ipa
