#include "models/vae/autoencoder_kl.h"

#include <algorithm>
#include <cmath>

#include "models/common/load_layers.h"
#include "models/vae/vae_tiling.h"
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

// [1] holding v, on the device of `like` (a broadcast operand for the ops).
Tensor scalar(float v, const Tensor& like) {
  return Tensor::full({1}, v).to(like.device());
}

}  // namespace

Tiling parse_tiling(const std::string& text) {
  if (text == "auto") return Tiling::kAuto;
  if (text == "on") return Tiling::kOn;
  if (text == "off") return Tiling::kOff;
  throw Error("VAE tiling must be auto, on or off, got '" + text + "'");
}

const char* tiling_name(Tiling t) {
  switch (t) {
    case Tiling::kAuto:
      return "auto";
    case Tiling::kOn:
      return "on";
    case Tiling::kOff:
      return "off";
  }
  return "?";
}

Tensor LatentDistribution::sample(const Tensor& noise) const {
  if (noise.shape() != mean.shape()) {
    throw Error("VAE latent sample: noise must be shaped like the mean " + shape_str(mean.shape()) +
                ", got " + shape_str(noise.shape()));
  }
  return ops::add(mean, ops::mul(std, noise));
}

AutoencoderKL AutoencoderKL::load(const std::string& dir, Precision precision) {
  const ModelFolder folder = open_model_folder(dir, layer_dtype(precision));
  return AutoencoderKL(VaeConfig::from_json(folder.config, folder.config_path),
                       folder.weights.scope(""));
}

AutoencoderKL::AutoencoderKL(const VaeConfig& config, const WeightScope& ws)
    : config_(config),
      encoder_(config_, ws.scope("encoder")),
      decoder_(config_, ws.scope("decoder")) {
  device_ = ws.store().device();
  const int64_t moments = 2 * config_.latent_channels, latent = config_.latent_channels;
  if (config_.use_quant_conv) {
    quant_conv_ = load_conv2d(ws, "quant_conv", moments, moments, 1, ops::Conv2dParams{});
  }
  if (config_.use_post_quant_conv) {
    post_quant_conv_ = load_conv2d(ws, "post_quant_conv", latent, latent, 1, ops::Conv2dParams{});
  }
}

Tensor AutoencoderKL::moments(const Tensor& image) const {
  Tensor m = encoder_(image);
  return quant_conv_ ? (*quant_conv_)(m) : m;
}

LatentDistribution AutoencoderKL::distribution(const Tensor& moments) const {
  const int64_t L = config_.latent_channels;
  LatentDistribution d;
  d.mean = ops::slice(moments, 1, 0, L);
  d.logvar = ops::slice(moments, 1, L, 2 * L);
  // Elementwise tail on a small latent tensor (ops has no clamp/exp): float math as torch, on
  // the host — on a device an explicit copy of the [N, L, H/8, W/8] log-variance there and the
  // results back (encoding only; once per image).
  const Device device = moments.device();
  Tensor logvar = d.logvar.to(Device{}).clone();
  Tensor std = Tensor::empty(logvar.shape());
  float* lv = logvar.data<float>();
  float* sd = std.data<float>();
  for (int64_t i = 0, n = logvar.numel(); i < n; ++i) {
    lv[i] = std::clamp(lv[i], -30.f, 20.f);
    sd[i] = std::exp(0.5f * lv[i]);
  }
  d.logvar = logvar.to(device);
  d.std = std.to(device);
  return d;
}

LatentDistribution AutoencoderKL::encode(const Tensor& image) const {
  check_input(image, config_.in_channels, "encode", "[batch, channels, height, width] image");
  return distribution(moments(image));
}

LatentDistribution AutoencoderKL::encode(const Tensor& image, const TilingOptions& tiling) const {
  return encode_tiles(image.shape(), tiling) ? tiled_encode(image, tiling) : encode(image);
}

Tensor AutoencoderKL::decode_untiled(const Tensor& z) const {
  return decoder_(post_quant_conv_ ? (*post_quant_conv_)(z) : z);
}

Tensor AutoencoderKL::decode(const Tensor& z) const {
  check_input(z, config_.latent_channels, "decode", "[batch, latent_channels, h, w] latents");
  return decode_untiled(z);
}

Tensor AutoencoderKL::decode(const Tensor& z, const TilingOptions& tiling) const {
  return decode_tiles(z.shape(), tiling) ? tiled_decode(z, tiling) : decode(z);
}

void AutoencoderKL::prepare_decode(const Shape& z_shape, const TilingOptions& tiling) const {
  if (z_shape.size() != 4 || z_shape[1] != config_.latent_channels) {
    throw Error("VAE: prepare_decode needs latents [batch, " +
                std::to_string(config_.latent_channels) + ", h, w], got " + shape_str(z_shape));
  }
  Shape z = z_shape;
  if (decode_tiles(z_shape, tiling)) {  // the full tiles (edge tiles plan on first use)
    const int64_t tile = tile_sizes(tiling).latent;
    z[2] = std::min(z[2], tile);
    z[3] = std::min(z[3], tile);
  }
  if (post_quant_conv_) z = post_quant_conv_->prepare(z);
  decoder_.prepare(z);
}

AutoencoderKL::TileSizes AutoencoderKL::tile_sizes(const TilingOptions& tiling) const {
  if (!(tiling.overlap >= 0.0 && tiling.overlap < 1.0)) {
    throw Error("VAE tiling: overlap must be in [0, 1), got " + std::to_string(tiling.overlap));
  }
  if (tiling.tile_latent_size < 0) {
    throw Error("VAE tiling: tile size must be positive (or 0 for the config's), got " +
                std::to_string(tiling.tile_latent_size));
  }
  if (tiling.tile_latent_size == 0) {
    const int64_t f = config_.downscale_factor();
    if (tiling.mode == Tiling::kAuto && config_.sample_size > tiling.auto_max_tile_pixels &&
        tiling.auto_max_tile_pixels >= f) {
      const int64_t latent = tiling.auto_max_tile_pixels / f;
      return {latent, latent * f};
    }
    return {config_.tile_latent_size(), config_.sample_size};
  }
  return {tiling.tile_latent_size, tiling.tile_latent_size * config_.downscale_factor()};
}

namespace {

// Refuses a grid whose kept tile parts would not add up to the image: diffusers would
// silently return an image of the wrong size.
void require_consistent(const TileGrid& g, int64_t num, int64_t den, int64_t tile_latent,
                        int64_t tile_sample, double overlap) {
  if (grid_is_consistent(g, num, den)) return;
  throw Error("VAE tiling: tiles of " + std::to_string(tile_latent) + " latents (" +
              std::to_string(tile_sample) + " pixels) with overlap " + std::to_string(overlap) +
              " step by " + std::to_string(g.in_stride) + " but keep " +
              std::to_string(g.out_keep) +
              " per tile, which would not tile the image evenly; with overlap 0.25 use a tile "
              "size that is a multiple of 4 latents (sample_size a multiple of 4 x the VAE "
              "scale factor)");
}

bool exceeds(const Shape& s, int64_t tile) {
  return s.size() == 4 && (s[2] > tile || s[3] > tile);
}

}  // namespace

bool AutoencoderKL::decode_tiles(const Shape& z_shape, const TilingOptions& tiling) const {
  if (tiling.mode == Tiling::kOff) return false;
  const TileSizes t = tile_sizes(tiling);
  if (!exceeds(z_shape, t.latent)) return false;  // diffusers' condition in _decode
  if (tiling.mode == Tiling::kOn) return true;
  const int64_t f = config_.downscale_factor();
  const TileGrid g = decode_grid(t.latent, t.sample, tiling.overlap);
  return z_shape[2] * f * z_shape[3] * f >= tiling.auto_min_pixels && grid_is_consistent(g, f, 1);
}

bool AutoencoderKL::encode_tiles(const Shape& image_shape, const TilingOptions& tiling) const {
  if (tiling.mode == Tiling::kOff) return false;
  const TileSizes t = tile_sizes(tiling);
  if (!exceeds(image_shape, t.sample)) return false;  // diffusers' condition in encode
  if (tiling.mode == Tiling::kOn) return true;
  const TileGrid g = encode_grid(t.latent, t.sample, tiling.overlap);
  return image_shape[2] * image_shape[3] >= tiling.auto_min_pixels &&
         grid_is_consistent(g, 1, config_.downscale_factor());
}

Tensor AutoencoderKL::tiled_decode(const Tensor& z, const TilingOptions& tiling) const {
  check_input(z, config_.latent_channels, "decode", "[batch, latent_channels, h, w] latents");
  const TileSizes t = tile_sizes(tiling);
  const TileGrid g = decode_grid(t.latent, t.sample, tiling.overlap);
  require_consistent(g, config_.downscale_factor(), 1, t.latent, t.sample, tiling.overlap);
  return run_tiled(z, g, [this](const Tensor& tile) { return decode_untiled(tile); });
}

LatentDistribution AutoencoderKL::tiled_encode(const Tensor& image,
                                               const TilingOptions& tiling) const {
  check_input(image, config_.in_channels, "encode", "[batch, channels, height, width] image");
  const TileSizes t = tile_sizes(tiling);
  const TileGrid g = encode_grid(t.latent, t.sample, tiling.overlap);
  require_consistent(g, 1, config_.downscale_factor(), t.latent, t.sample, tiling.overlap);
  return distribution(run_tiled(image, g, [this](const Tensor& tile) { return moments(tile); }));
}

Tensor AutoencoderKL::to_unet_latents(const Tensor& vae_latents) const {
  const Tensor shifted = config_.has_shift_factor
                             ? ops::sub(vae_latents, scalar(config_.shift_factor, vae_latents))
                             : vae_latents;
  return ops::mul(shifted, scalar(config_.scaling_factor, shifted));
}

Tensor AutoencoderKL::to_vae_latents(const Tensor& unet_latents) const {
  const Tensor z = ops::div(unet_latents, scalar(config_.scaling_factor, unet_latents));
  return config_.has_shift_factor ? ops::add(z, scalar(config_.shift_factor, z)) : z;
}

}  // namespace ipa::vae
