// ControlNetModel (diffusers 0.30.3): a copy of the UNet's encoder half that reads a control
// image and returns residuals for the UNet's skip connections and mid block.
//
//   emb = time_embedding(t) [+ add_embedding(text_embeds, time_ids)]   (its own weights)
//   x = conv_in(sample) + controlnet_cond_embedding(image)
//   skips = [x]; down blocks (push skips); x = mid_block(x)
//   down_residuals[k] = controlnet_down_blocks[k](skips[k])   (1×1 convs)
//   mid_residual      = controlnet_mid_block(x)               (1×1 conv)
//   all × conditioning_scale (guess mode: × logspace(-1, 0, K+1)[k] · scale, mid × scale);
//   global_pool_conditions: each residual averaged over H, W.
// Its cross-attention sees the text only (no IP-Adapter tokens: diffusers keeps the
// ControlNet's plain attention processors).
#pragma once
#include <string>
#include <vector>

#include "ipadapter/types.h"
#include "models/controlnet/conditioning_embedding.h"
#include "models/controlnet/controlnet_config.h"
#include "models/unet/blocks.h"
#include "models/unet/time_embedding.h"
#include "models/unet/unet.h"

namespace ipa::controlnet {

struct ControlNetInputs {
  Tensor sample;    // [B, in_channels, h, w] F32: the UNet's (scaled) latent input
  Tensor timestep;  // scalar, [1] or [B]
  Tensor text;      // encoder_hidden_states [B, Lt, cross_attention_dim]: text only
  // text_time conditioning (SDXL) only, as the UNet gets them:
  Tensor text_embeds;  // [B, P]
  Tensor time_ids;     // [B, N]
  // controlnet_cond: [B or 1, conditioning_channels, h·s, w·s] F32 in [0, 1], RGB
  // (s = config().image_scale(), 8 for the released models).
  Tensor image;
  float conditioning_scale = 1.f;
  bool guess_mode = false;
};

// What the UNet takes (unet::UNetInputs::down_residuals / mid_residual).
struct ControlNetOutput {
  std::vector<Tensor> down_residuals;  // one per skip connection, [B, C_k, h_k, w_k]
  Tensor mid_residual;                 // [B, C_mid, h_mid, w_mid]
};

// Adds `out` to the residuals already in `in` (or sets them): several ControlNets sum, as
// diffusers' MultiControlNetModel does.
void add_residuals(const ControlNetOutput& out, unet::UNetInputs* in);

class ControlNetModel {
 public:
  // Weights under `ws` with diffusers names (controlnet_cond_embedding.*, down_blocks.*, ...),
  // shapes checked against the config; weights under `ws` the model does not use are an
  // error naming them.
  static ControlNetModel load(const ControlNetConfig& config, const WeightScope& ws);
  // A diffusers folder: config.json + diffusion_pytorch_model[.fp16].safetensors (or .bin).
  // `device`: where the weights go (ComputeOptions::device).
  static ControlNetModel load_dir(const std::string& dir, Precision precision = Precision::F32,
                                  const std::string& variant = "", Device device = Device{});
  // One weights file (.safetensors, .pth/.ckpt/.bin) with `config`: diffusers names, or the
  // original LDM / lllyasviel layout (input_blocks, zero_convs, input_hint_block,
  // middle_block_out, optionally under "control_model."), detected from the keys.
  static ControlNetModel load_file(const std::string& path, const ControlNetConfig& config,
                                   Precision precision = Precision::F32, Device device = Device{});

  const ControlNetConfig& config() const { return config_; }
  ControlNetOutput forward(const ControlNetInputs& in) const;

 private:
  ControlNetConfig config_;
  unet::TimeEmbedding time_embedding_;
  ops::Conv2d conv_in_;
  ConditioningEmbedding cond_embedding_;
  std::vector<unet::DownBlock> down_;
  unet::MidBlock mid_;
  std::vector<ops::Conv2d> controlnet_down_;
  ops::Conv2d controlnet_mid_;

  void check_inputs(const ControlNetInputs& in) const;
};

}  // namespace ipa::controlnet
