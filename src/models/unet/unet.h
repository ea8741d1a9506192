// UNet2DConditionModel (diffusers 0.30.3) with IP-Adapter's decoupled cross-attention.
//
//   emb = time_embedding(sinusoid(t)) [+ add_embedding(text_embeds, sinusoid(time_ids))]
//   x = conv_in(sample); skips = [x]; down blocks (push skips); mid; up blocks (pop skips)
//   out = conv_out(SiLU(GroupNorm(x)))
//
// Image prompt: each attn2 adds scale · attention over the image tokens, with its own
// to_k_ip / to_v_ip from the adapter file. Text and image tokens are passed separately
// (the reference concatenates them as encoder_hidden_states = [text; ip] and splits the last
// num_tokens off again — use `split_encoder_hidden_states` to call with that layout).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "models/unet/blocks.h"
#include "models/unet/config.h"

namespace ipa::unet {

struct UNetInputs {
  Tensor sample;     // [B, in_channels, H, W], F32
  Tensor timestep;   // scalar, [1] or [B]; any numeric dtype (diffusers casts to float)
  Tensor text;       // encoder_hidden_states without image tokens: [B, Lt, cross_attention_dim]
  Tensor ip_tokens;  // [B, T, cross_attention_dim] or undefined (plain UNet)
  // text_time conditioning (SDXL) only:
  Tensor text_embeds;  // pooled text embedding [B, P]
  Tensor time_ids;     // [B, N] (SDXL: [orig_h, orig_w, crop_top, crop_left, target_h, target_w])
};

// Splits reference-style encoder_hidden_states [B, Lt + T, C] into (text, ip tokens) with the
// image tokens taken from the end, like IPAttnProcessor. num_ip_tokens 0 → no image tokens.
std::pair<Tensor, Tensor> split_encoder_hidden_states(const Tensor& encoder_hidden_states,
                                                      int64_t num_ip_tokens);

class UNet2DConditionModel {
 public:
  // Weights under `ws` with diffusers names (conv_in.weight, down_blocks.0.resnets.0...).
  // Shapes are checked against the config; weights under the scope that the config does not
  // use are an error (config and checkpoint disagree).
  static UNet2DConditionModel load(const UNetConfig& config, const WeightScope& ws);
  // A diffusers `unet/` folder: config.json + weights (found by open_model_folder:
  // diffusion_pytorch_model[.fp16].safetensors, sharded index, or .bin).
  static UNet2DConditionModel load_dir(const std::string& dir);

  const UNetConfig& config() const { return config_; }

  // Noise prediction [B, out_channels, H, W].
  Tensor forward(const UNetInputs& in) const;

  // ---- IP-Adapter ----
  // Attaches `<k>.to_k_ip.weight` / `<k>.to_v_ip.weight` from a scope over an adapter's
  // `ip_adapter` dict (e.g. store.scope("ip_adapter")). Checks that the adapter's token width
  // equals this UNet's cross_attention_dim, that there is exactly one pair per attn2 layer and
  // every shape. Replaces a previously loaded adapter; sets every scale to 1.0 (the reference's
  // default). On error the UNet is left unchanged.
  void load_ip_adapter(const WeightScope& ip_adapter_scope);
  void unload_ip_adapter();
  bool has_ip_adapter() const;

  // One entry per attn2 in checkpoint order (down → up → mid).
  int num_ip_layers() const { return static_cast<int>(ip_layers_.size()); }
  const IpAttnLayer& ip_layer(int layer) const;
  void set_ip_scale(float scale);  // every layer
  void set_ip_scale(int layer, float scale);

 private:
  UNetConfig config_;
  ops::Conv2d conv_in_, conv_out_;
  ops::Linear time_linear_1_, time_linear_2_;
  ops::Linear add_linear_1_, add_linear_2_;  // text_time only
  std::vector<DownBlock> down_;
  MidBlock mid_;
  bool has_mid_ = false;
  std::vector<UpBlock> up_;
  ops::GroupNorm norm_out_;
  std::vector<IpAttnLayer> ip_layers_;

  void index_ip_layers();
  Tensor time_embedding(const UNetInputs& in, int64_t batch) const;
  void check_inputs(const UNetInputs& in) const;
};

}  // namespace ipa::unet
