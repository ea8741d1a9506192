// IP-Adapter's decoupled cross-attention, in one place: the per-layer to_k_ip / to_v_ip
// weights of an adapter bound to a UNet's attn2 layers (checked against them), and the
// per-call UNet extension that adds, in every attn2 before to_out,
//   Σ_adapters scale · SDPA(q, tokens·Wk_ipᵀ, tokens·Wv_ipᵀ)
// to the text attention — tencent-ailab's IPAttnProcessor and diffusers' IPAdapterAttnProcessor
// (several adapters: one attention each, added in order). A scale of 0 skips the branch, so
// the result is then the plain UNet's bit for bit.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "ipadapter/request.h"
#include "models/unet/cross_attention.h"
#include "ops/layers.h"
#include "weights/weight_store.h"

namespace ipa {

class IpAttentionWeights {
 public:
  // From a scope over an adapter's `ip_adapter` dict (`<k>.to_k_ip.weight`, ...). Checks that
  // the adapter's token width fits every layer's cross_attention_dim (an adapter for another
  // base model fails here, naming both shapes), that there is exactly one pair per attn2 and
  // nothing else, and every shape. Errors name the file and the key.
  static IpAttentionWeights load(const WeightScope& ip_adapter_scope,
                                 const std::vector<unet::CrossAttentionLayer>& layers);

  int num_layers() const { return static_cast<int>(layers_.size()); }
  const std::vector<unet::CrossAttentionLayer>& layers() const { return layers_; }
  const ops::Linear& to_k(int layer) const { return to_k_.at(static_cast<size_t>(layer)); }
  const ops::Linear& to_v(int layer) const { return to_v_.at(static_cast<size_t>(layer)); }

 private:
  std::vector<unet::CrossAttentionLayer> layers_;
  std::vector<ops::Linear> to_k_, to_v_;
};

// One adapter's share of one generation's image prompt.
struct IpAttentionInput {
  const IpAttentionWeights* weights = nullptr;  // must outlive the IpAttention until precompute()
  Tensor tokens;                 // [B, images · T, C] for a UNet batch of B (CFG rows included)
  int64_t tokens_per_image = 0;  // T; 0 = all tokens are one group
  // Per attn2 layer; 0 skips the adapter there. The weight of a group at a layer is
  // layer_scales[layer] · group_scales[group].
  std::vector<float> layer_scales;
  // Without masks: {1} (one softmax over all images' tokens, as diffusers). With masks: one
  // weight per image, each image attended on its own and multiplied by its mask.
  std::vector<float> group_scales = {1.f};
  std::vector<Tensor> masks;  // per image: F32 [H, W] (0/1 at the output size), or none
  EmbedsScaling scaling = EmbedsScaling::VOnly;
  double start = 0, end = 1;  // the step window: active in step i of N when start <= i/N < end
};

// One generation's image prompt as a UNet extension: which adapters act, with which tokens,
// weights, masks and windows. Built per request, so the loaded models never change.
//
// Per attn2 layer and group (all tokens, or one masked image), with w its weight and C the
// layer's width:
//   V only (the reference's):  out += w · SDPA(q, K, V)
//   K+V:                       out += SDPA(q, w·K, w·V)
//   K+V w/ C penalty:          w' = w · C/1280; out += SDPA(q, w'·K, w'·V)
//   K+mean(V) w/ C penalty:    w' as above; out += SDPA(q, w'·K, (V − mean(V)) + w'·mean(V))
// (ComfyUI_IPAdapter_plus's embeds_scaling; mean over the tokens); a masked group's attention
// output is multiplied by the mask, downsampled to the layer's query grid as diffusers'
// IPAdapterMaskProcessor.downsample does (bicubic, not binary).
class IpAttention final : public unet::CrossAttentionExtension {
 public:
  void add(IpAttentionInput input);
  // One group over all tokens, one scale for every layer / one per layer.
  void add(const IpAttentionWeights& weights, Tensor tokens, float scale);
  void add(const IpAttentionWeights& weights, Tensor tokens, std::vector<float> layer_scales);
  bool empty() const { return entries_.empty(); }

  // Before step `step` of `total`: which adapters' windows include it.
  void begin_step(size_t step, size_t total);
  // Projects every layer's keys and values now (else each is made on first use); the weights
  // are not used afterwards, so a one-shot pipeline can release them before the UNet loads.
  // They are a few tokens per layer: small next to the weights.
  void precompute();

  void extend(const unet::CrossAttentionCall& call) const override;

 private:
  struct Entry {
    IpAttentionInput in;
    int num_layers = 0;
    bool active = true;
    // to_k_ip(tokens), to_v_ip(tokens) per layer: the tokens do not change between steps.
    mutable std::vector<std::pair<Tensor, Tensor>> kv;
    // Each mask downsampled to a query count, [1, nq, 1], by (image, nq).
    mutable std::map<std::pair<size_t, int64_t>, Tensor> masks_at;
  };
  static const std::pair<Tensor, Tensor>& keys_values(const Entry& e, int layer);
  std::vector<Entry> entries_;
  mutable std::mutex mu_;  // guards the caches
};

// diffusers' IPAdapterMaskProcessor.downsample of one mask [H, W] for a layer of `num_queries`
// query tokens: the grid keeps the mask's aspect ratio (mask_h = int(sqrt(nq · H/W)), plus one
// when nq is not a multiple of it; mask_w = nq // mask_h), bicubic (align_corners=False, not
// clamped), row-major, zero-padded or cut to nq. Returns F32 [nq].
Tensor downsample_ip_mask(const Tensor& mask, int64_t num_queries);

}  // namespace ipa
