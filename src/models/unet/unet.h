// UNet2DConditionModel (diffusers 0.30.3).
//
//   emb = time_embedding(sinusoid(t)) [+ add_embedding(text_embeds, sinusoid(time_ids))]
//   x = conv_in(sample); skips = [x]; down blocks (push skips); mid; up blocks (pop skips)
//   out = conv_out(SiLU(GroupNorm(x)))
//
// Two hooks let other modules take part in a call without changing the model: a
// cross-attention extension (IP-Adapter's image attention, cross_attention.h) and additional
// residuals for the skip connections and the mid block (ControlNet).
#pragma once
#include <string>
#include <vector>

#include "models/unet/blocks.h"
#include "models/unet/config.h"
#include "models/unet/cross_attention.h"
#include "models/unet/time_embedding.h"

namespace ipa::unet {

struct UNetInputs {
  Tensor sample;    // [B, in_channels, H, W], F32
  Tensor timestep;  // scalar, [1] or [B]; any numeric dtype (diffusers casts to float)
  Tensor text;      // encoder_hidden_states [B, Lt, cross_attention_dim]
  // text_time conditioning (SDXL) only:
  Tensor text_embeds;  // pooled text embedding [B, P]
  Tensor time_ids;     // [B, N] (SDXL: [orig_h, orig_w, crop_top, crop_left, target_h, target_w])
  // Called by every attn2 (may be null).
  const CrossAttentionExtension* cross_attention = nullptr;
  // diffusers' down_block_additional_residuals (one per skip, added to each before the up path
  // reads it) and mid_block_additional_residual (added to the mid block's output); empty /
  // undefined = none.
  std::vector<Tensor> down_residuals;
  Tensor mid_residual;
};

class UNet2DConditionModel {
 public:
  // Weights under `ws` with diffusers names (conv_in.weight, down_blocks.0.resnets.0...).
  // Shapes are checked against the config; weights under the scope that the config does not
  // use are an error (config and checkpoint disagree).
  static UNet2DConditionModel load(const UNetConfig& config, const WeightScope& ws);
  // A diffusers `unet/` folder: config.json + weights (found by open_model_folder:
  // diffusion_pytorch_model[.fp16].safetensors, sharded index, or .bin).
  // Its weights go to `device` as they are read.
  static UNet2DConditionModel load_dir(const std::string& dir, Precision precision = Precision::F32,
                                       Device device = Device{});

  const UNetConfig& config() const { return config_; }
  // Every attn2, in attn_processors order (= cross_attention_layers(config())).
  const std::vector<CrossAttentionLayer>& cross_attention_layers() const { return layers_; }

  // Noise prediction [B, out_channels, H, W].
  Tensor forward(const UNetInputs& in) const;
  // Plans every convolution for a sample of shape [B, in_channels, h, w] now (oneDNN
  // primitives built, weights packed into their layouts, the plain copies released), so the
  // first forward with that shape computes at once. Other shapes still work (planned on first
  // use). The ControlNet residual inputs do not change the shapes.
  void prepare(const Shape& sample) const;

 private:
  UNetConfig config_;
  ops::Conv2d conv_in_, conv_out_;
  TimeEmbedding time_embedding_;
  std::vector<DownBlock> down_;
  MidBlock mid_;
  bool has_mid_ = false;
  std::vector<UpBlock> up_;
  ops::GroupNorm norm_out_;
  std::vector<CrossAttentionLayer> layers_;

  void index_cross_attention_layers();
  void check_inputs(const UNetInputs& in) const;
  void add_residuals(const UNetInputs& in, std::vector<Tensor>* skips) const;
};

}  // namespace ipa::unet
