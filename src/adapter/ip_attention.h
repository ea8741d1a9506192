// IP-Adapter's decoupled cross-attention, in one place: the per-layer to_k_ip / to_v_ip
// weights of an adapter bound to a UNet's attn2 layers (checked against them), and the
// per-call UNet extension that adds, in every attn2 before to_out,
//   Σ_adapters scale · SDPA(q, tokens·Wk_ipᵀ, tokens·Wv_ipᵀ)
// to the text attention — tencent-ailab's IPAttnProcessor and diffusers' IPAdapterAttnProcessor
// (several adapters: one attention each, added in order). A scale of 0 skips the branch, so
// the result is then the plain UNet's bit for bit.
#pragma once
#include <memory>
#include <mutex>
#include <vector>

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

// One generation's image prompt as a UNet extension: which adapters act, with which tokens and
// which per-layer scales. Built per request, so the loaded models never change.
class IpAttention final : public unet::CrossAttentionExtension {
 public:
  // tokens [B, T, C] for a UNet batch of B (CFG's unconditional rows included); `weights`
  // must outlive this object until precompute(). One scale for every layer, or one per layer.
  void add(const IpAttentionWeights& weights, Tensor tokens, float scale);
  void add(const IpAttentionWeights& weights, Tensor tokens, std::vector<float> layer_scales);
  bool empty() const { return entries_.empty(); }
  // Projects every active layer's keys and values now (else each is made on first use); the
  // weights are not used afterwards, so a one-shot pipeline can release them before the UNet
  // loads. They are a few tokens per layer: small next to the weights.
  void precompute();

  void extend(const unet::CrossAttentionCall& call) const override;

 private:
  struct Entry {
    const IpAttentionWeights* weights = nullptr;  // null once precomputed
    int num_layers = 0;
    Tensor tokens;
    std::vector<float> scales;  // per layer
    // to_k_ip(tokens), to_v_ip(tokens) per layer: the tokens do not change between steps.
    mutable std::vector<std::pair<Tensor, Tensor>> kv;
  };
  static const std::pair<Tensor, Tensor>& keys_values(const Entry& e, int layer);
  std::vector<Entry> entries_;
  mutable std::mutex mu_;  // guards the kv caches
};

}  // namespace ipa
