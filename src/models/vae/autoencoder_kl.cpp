#include "models/vae/autoencoder_kl.h"

#include <algorithm>
#include <cmath>

#include "models/common/load_layers.h"
#include "weights/model_folder.h"

namespace ipa::vae {

namespace {

void check_input(const Tensor& x, int64_t channels, const char* what, const char* layout) {
  if (x.dim() != 4 || x.size(0) < 1 || x.size(1) != channels || x.size(2) < 1 || x.size(3) < 1) {
    throw Error(std::string("VAE ") + what + ": expected F32 " + layout + " with " +
                std::to_string(channels) + " channels, got " + shape_str(x.shape()));
  }
  if (x.dtype() != DType::F32) {
    throw Error(std::string("VAE ") + what + ": expected F32, got " + dtype_name(x.dtype()));
  }
}

Tensor scalar(float v) {
  return Tensor::full({1}, v);
}

}  // namespace

Tensor LatentDistribution::sample(const Tensor& noise) const {
  if (noise.shape() != mean.shape()) {
    throw Error("VAE latent sample: noise must be shaped like the mean " + shape_str(mean.shape()) +
                ", got " + shape_str(noise.shape()));
  }
  return ops::add(mean, ops::mul(std, noise));
}

AutoencoderKL AutoencoderKL::load(const std::string& dir) {
  const ModelFolder folder = open_model_folder(dir);
  return AutoencoderKL(VaeConfig::from_json(folder.config, folder.config_path),
                       folder.weights.scope(""));
}

AutoencoderKL::AutoencoderKL(const VaeConfig& config, const WeightScope& ws)
    : config_(config),
      encoder_(config_, ws.scope("encoder")),
      decoder_(config_, ws.scope("decoder")) {
  const int64_t moments = 2 * config_.latent_channels, latent = config_.latent_channels;
  if (config_.use_quant_conv) {
    quant_conv_ = load_conv2d(ws, "quant_conv", moments, moments, 1, ops::Conv2dParams{});
  }
  if (config_.use_post_quant_conv) {
    post_quant_conv_ = load_conv2d(ws, "post_quant_conv", latent, latent, 1, ops::Conv2dParams{});
  }
}

LatentDistribution AutoencoderKL::encode(const Tensor& image) const {
  check_input(image, config_.in_channels, "encode", "[batch, channels, height, width] image");
  Tensor moments = encoder_(image);
  if (quant_conv_) moments = (*quant_conv_)(moments);
  const int64_t L = config_.latent_channels;
  LatentDistribution d;
  d.mean = ops::slice(moments, 1, 0, L);
  d.logvar = ops::slice(moments, 1, L, 2 * L);
  d.std = Tensor::empty(d.logvar.shape());
  // Elementwise tail on a small latent tensor (ops has no clamp/exp): float math as torch.
  float* lv = d.logvar.data<float>();
  float* sd = d.std.data<float>();
  for (int64_t i = 0, n = d.logvar.numel(); i < n; ++i) {
    lv[i] = std::clamp(lv[i], -30.f, 20.f);
    sd[i] = std::exp(0.5f * lv[i]);
  }
  return d;
}

Tensor AutoencoderKL::decode(const Tensor& z) const {
  check_input(z, config_.latent_channels, "decode", "[batch, latent_channels, h, w] latents");
  return decoder_(post_quant_conv_ ? (*post_quant_conv_)(z) : z);
}

Tensor AutoencoderKL::to_unet_latents(const Tensor& vae_latents) const {
  const Tensor shifted =
      config_.has_shift_factor ? ops::sub(vae_latents, scalar(config_.shift_factor)) : vae_latents;
  return ops::mul(shifted, scalar(config_.scaling_factor));
}

Tensor AutoencoderKL::to_vae_latents(const Tensor& unet_latents) const {
  const Tensor z = ops::div(unet_latents, scalar(config_.scaling_factor));
  return config_.has_shift_factor ? ops::add(z, scalar(config_.shift_factor)) : z;
}

}  // namespace ipa::vae
