// Packing at load: a UNet or VAE whose convolutions were planned by prepare() for the expected
// input shape computes bit-identically to one that plans them lazily on its first call, and
// inputs of another shape still work. The tiny golden models (cases unet_sd15_ip, vae) give the
// architecture; sizes come from their configs, the inputs are random.
#include <gtest/gtest.h>

#include "models/unet/unet.h"
#include "models/vae/autoencoder_kl.h"
#include "sampling/torch_rng.h"
#include "test_support.h"

namespace ipa {
namespace {

unet::UNet2DConditionModel load_unet() {
  return unet::UNet2DConditionModel::load_dir(test::golden_path("unet_sd15_ip/unet"));
}

unet::UNetInputs unet_inputs(const unet::UNetConfig& c, int64_t batch, int64_t h, int64_t w,
                             uint64_t seed) {
  sampling::TorchGenerator g(seed);
  unet::UNetInputs in;
  in.sample = g.randn({batch, c.in_channels, h, w});
  in.timestep = Tensor::from_vector({1}, {500.f});
  in.text = g.randn({batch, 7, c.cross_attention_dim});
  return in;
}

// The latent side the config describes, and one that is not a multiple of the downsampling
// (the up blocks then resize to the skips' odd sizes).
int64_t nominal_side(const unet::UNetConfig& c) {
  return c.sample_size > 0 ? c.sample_size : 8;
}

TEST(ModelPrepare, UNetPreparedAtLoadMatchesTheLazyPathBitForBit) {
  const auto lazy = load_unet();
  const auto prepared = load_unet();
  const auto& c = lazy.config();
  const int64_t s = nominal_side(c);
  prepared.prepare({2, c.in_channels, s, s});
  const auto in = unet_inputs(c, 2, s, s, 1);
  EXPECT_EQ(prepared.forward(in).to_floats(), lazy.forward(in).to_floats());
  // Another batch and an odd size: planned on first use, still the same as the lazy model.
  const auto other = unet_inputs(c, 1, s + 3, s - 1, 2);
  EXPECT_EQ(prepared.forward(other).to_floats(), lazy.forward(other).to_floats());
}

TEST(ModelPrepare, UNetPrepareRefusesABadSampleShape) {
  const auto unet = load_unet();
  const auto& c = unet.config();
  EXPECT_THROW(unet.prepare({2, c.in_channels + 1, 8, 8}), Error);
  EXPECT_THROW(unet.prepare({c.in_channels, 8, 8}), Error);
}

TEST(ModelPrepare, VaePreparedForDecodeMatchesTheLazyPathBitForBit) {
  const std::string dir = test::golden_path("vae/vae");
  const auto lazy = vae::AutoencoderKL::load(dir);
  const auto prepared = vae::AutoencoderKL::load(dir);
  const auto& c = lazy.config();
  const int64_t s = std::max<int64_t>(2, c.tile_latent_size());
  vae::TilingOptions off;
  off.mode = vae::Tiling::kOff;
  const Shape z_shape{1, c.latent_channels, s, s};
  prepared.prepare_decode(z_shape, off);
  sampling::TorchGenerator g(3);
  const Tensor z = g.randn(z_shape);
  EXPECT_EQ(prepared.decode(z, off).to_floats(), lazy.decode(z, off).to_floats());
  const Tensor z2 = g.randn({2, c.latent_channels, s + 1, s});
  EXPECT_EQ(prepared.decode(z2, off).to_floats(), lazy.decode(z2, off).to_floats());
  EXPECT_THROW(prepared.prepare_decode({1, c.latent_channels + 1, s, s}, off), Error);
}

}  // namespace
}  // namespace ipa
