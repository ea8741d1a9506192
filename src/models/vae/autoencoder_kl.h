// diffusers AutoencoderKL (the Stable Diffusion VAE): encode images to a diagonal Gaussian
// over latents, decode latents to images.
//
// Latent spaces — which one each call takes:
//   * VAE space: what encode() describes and decode() consumes (diffusers' latent_dist and
//     vae.decode's input).
//   * UNet space: what the scheduler loop works in:
//       unet = (vae − shift_factor) · scaling_factor        (to_unet_latents)
//       vae  = unet / scaling_factor + shift_factor          (to_vae_latents)
//     shift_factor is 0 when the config has none (SD1.5, SDXL). diffusers' SD pipelines call
//     vae.decode(latents / scaling_factor), i.e. decode(to_vae_latents(latents)).
#pragma once
#include <optional>
#include <string>

#include "models/vae/vae_config.h"
#include "models/vae/vae_decoder.h"
#include "models/vae/vae_encoder.h"

namespace ipa::vae {

// Tiled decoding / encoding (diffusers' enable_tiling): the image is processed in overlapping
// tiles of sample_size pixels (the config's; tile_latent_size() latents), blended linearly over
// a quarter of a tile and stitched. Peak memory then stays that of one tile, whatever the
// image size; the result differs from untiled processing (each tile sees only its own context,
// GroupNorm statistics and attention included) but matches diffusers' tiled output.
enum class Tiling {
  kAuto,  // tile large images only (see TilingOptions::auto_min_pixels)
  kOn,    // diffusers' enable_tiling(): tile whenever the input is larger than one tile
  kOff,   // never tile
};
// "auto" | "on" | "off"; anything else is an error naming the choices.
Tiling parse_tiling(const std::string& text);
const char* tiling_name(Tiling t);

struct TilingOptions {
  Tiling mode = Tiling::kAuto;
  // Tile side in latents; 0 = the config's (int(sample_size / f), diffusers'
  // tile_latent_min_size, with tiles of sample_size pixels). Otherwise tiles are
  // tile_latent_size · f pixels. With the default overlap it must be a multiple of 4, so the
  // kept parts of the tiles add up to the image (an error says so otherwise).
  int64_t tile_latent_size = 0;
  double overlap = 0.25;  // diffusers' tile_overlap_factor
  // kAuto tiles only images of at least this many pixels (height · width of one image, so
  // each image of a batch decodes the same way as alone), and only when they are larger than
  // one tile. 1024² keeps SD1.5 at 512–768² and SDXL at 1024² untiled, as diffusers' default
  // does, and tiles SD1.5 from 1024², whose untiled decode needs ~5 GB of activations
  // (docs/models.md).
  int64_t auto_min_pixels = 1024 * 1024;
  // kAuto (with tile_latent_size 0) caps the config's tile at this many pixels per side.
  // SDXL's VAE has sample_size 1024, so diffusers' own tile holds a whole 1024² image and would
  // save nothing; 512-pixel tiles (SD1.5's) bound the decoder's activations to one 512² tile's,
  // less than the UNet phase needs (docs/models.md has the figures).
  int64_t auto_max_tile_pixels = 512;
};

// DiagonalGaussianDistribution over VAE-space latents, each [B, latent, h, w].
struct LatentDistribution {
  Tensor mean;
  Tensor logvar;  // clamped to [−30, 20]
  Tensor std;     // exp(0.5 · logvar)
  // mean + std · noise, with `noise` shaped like mean (standard normal, e.g. from a
  // generator): diffusers' latent_dist.sample(generator).
  Tensor sample(const Tensor& noise) const;
  // latent_dist.mode()
  const Tensor& mode() const { return mean; }
};

class AutoencoderKL {
 public:
  // A diffusers `vae/` folder: config.json + diffusion_pytorch_model.safetensors (F32/F16),
  // or any other weights file open_model_folder() accepts (.fp16, sharded, .bin).
  static AutoencoderKL load(const std::string& dir, Precision precision = Precision::F32);
  // From weights named like the diffusers checkpoint (`encoder.…`, `decoder.…`,
  // `quant_conv.…`, `post_quant_conv.…`) relative to `ws`.
  AutoencoderKL(const VaeConfig& config, const WeightScope& ws);

  const VaeConfig& config() const { return config_; }
  // Where the weights live; encode/decode take inputs there (callers move host ones).
  Device device() const { return device_; }

  // image F32 [B, in_channels, H, W], values in [−1, 1] → latent distribution in VAE space
  // ([B, latent, ⌈H/f⌉, ⌈W/f⌉] for even sizes; f = downscale_factor()). Includes quant_conv.
  LatentDistribution encode(const Tensor& image) const;
  // encode, tiled as options say (diffusers' tiled_encode when it tiles).
  LatentDistribution encode(const Tensor& image, const TilingOptions& tiling) const;
  // z F32 [B, latent_channels, h, w] in VAE space (see the top of this file) → image
  // [B, out_channels, h·f, w·f], roughly in [−1, 1] (not clamped). Includes post_quant_conv.
  Tensor decode(const Tensor& z) const;
  // decode, tiled as options say (diffusers' tiled_decode when it tiles). When z fits in one
  // tile this is exactly decode(z).
  Tensor decode(const Tensor& z, const TilingOptions& tiling) const;
  // Plans the decoder's convolutions for what decode(z, tiling) will run on latents of
  // `z_shape` (the whole latent, or a full tile when it tiles): primitives built and weights
  // packed now rather than inside the first decode.
  void prepare_decode(const Shape& z_shape, const TilingOptions& tiling) const;
  // Whether decode(z, tiling) / encode(image, tiling) will tile, from the input's shape.
  bool decode_tiles(const Shape& z_shape, const TilingOptions& tiling) const;
  bool encode_tiles(const Shape& image_shape, const TilingOptions& tiling) const;
  // diffusers' tiled_decode / tiled_encode, unconditionally (even for an input that fits in
  // one tile: tiles still start every 3/4 tile, so the result then differs from decode(z)).
  Tensor tiled_decode(const Tensor& z, const TilingOptions& tiling) const;
  LatentDistribution tiled_encode(const Tensor& image, const TilingOptions& tiling) const;

  Tensor to_unet_latents(const Tensor& vae_latents) const;
  Tensor to_vae_latents(const Tensor& unet_latents) const;

 private:
  Device device_;
  struct TileSizes {
    int64_t latent, sample;
  };
  TileSizes tile_sizes(const TilingOptions& tiling) const;
  Tensor decode_untiled(const Tensor& z) const;
  Tensor moments(const Tensor& image) const;  // encoder + quant_conv
  LatentDistribution distribution(const Tensor& moments) const;

  VaeConfig config_;
  VaeEncoder encoder_;
  VaeDecoder decoder_;
  std::optional<ops::Conv2d> quant_conv_, post_quant_conv_;
};

}  // namespace ipa::vae
