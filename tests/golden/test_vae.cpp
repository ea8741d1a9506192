// AutoencoderKL against diffusers (case vae): encode → mean / logvar / std, decode.
#include <gtest/gtest.h>

#include <cmath>

#include "models/vae/autoencoder_kl.h"
#include "test_support.h"

namespace ipa::vae {
namespace {

constexpr double kTol = 1e-4;  // fp32 module tolerance: max|Δ| ≤ 1e-4 · max|expected|

const TensorFile& golden() {
  return test::load_golden("vae");
}
Tensor tensor(const std::string& key) {
  return test::golden_tensor(golden(), key);
}
const AutoencoderKL& model() {
  static const AutoencoderKL vae = AutoencoderKL::load(test::golden_path("vae/vae"));
  return vae;
}

TEST(VaeGolden, ConfigMatchesCase) {
  const nlohmann::json case_json = test::load_case("vae");
  const auto& j = case_json["config"];
  const VaeConfig& c = model().config();
  EXPECT_EQ(c.block_out_channels, j["block_out_channels"].get<std::vector<int64_t>>());
  EXPECT_EQ(c.layers_per_block, j["layers_per_block"].get<int64_t>());
  EXPECT_EQ(c.latent_channels, j["latent_channels"].get<int64_t>());
  EXPECT_EQ(c.norm_num_groups, j["norm_num_groups"].get<int>());
  EXPECT_FLOAT_EQ(c.scaling_factor, j["scaling_factor"].get<float>());
  EXPECT_EQ(c.has_shift_factor, !j["shift_factor"].is_null());
  EXPECT_EQ(tensor("image").size(2) / c.downscale_factor(), tensor("latent_mean").size(2));
}

TEST(VaeGolden, Encode) {
  const LatentDistribution d = model().encode(tensor("image"));
  EXPECT_TRUE(test::AllCloseRel(d.mean, tensor("latent_mean"), kTol));
  EXPECT_TRUE(test::AllCloseRel(d.logvar, tensor("latent_logvar"), kTol));
  EXPECT_TRUE(test::AllCloseRel(d.std, tensor("latent_std"), kTol));
}

TEST(VaeGolden, Decode) {
  const Tensor image = model().decode(tensor("decode_input"));
  EXPECT_TRUE(test::AllCloseRel(image, tensor("decoded"), kTol));
}

TEST(VaeGolden, SingleImageMatchesItsBatchRow) {
  const Tensor images = tensor("image"), z = tensor("decode_input");
  for (int64_t b = 0; b < images.size(0); ++b) {
    SCOPED_TRACE("image " + std::to_string(b));
    const LatentDistribution d = model().encode(images.narrow(0, b, 1).contiguous());
    EXPECT_TRUE(test::AllCloseRel(d.mean, tensor("latent_mean").narrow(0, b, 1), kTol));
    EXPECT_TRUE(test::AllCloseRel(model().decode(z.narrow(0, b, 1).contiguous()),
                                  tensor("decoded").narrow(0, b, 1), kTol));
  }
}

TEST(VaeGolden, SampleIsMeanPlusStdTimesNoise) {
  const LatentDistribution d = model().encode(tensor("image"));
  const Tensor noise = test::random_tensor(d.mean.shape(), 7, -2.f, 2.f);
  const Tensor s = d.sample(noise);
  const auto m = d.mean.to_floats(), sd = d.std.to_floats(), n = noise.to_floats(),
             got = s.to_floats();
  // Rounding only: the compiler may fuse the reference's multiply-add here.
  for (size_t i = 0; i < got.size(); ++i) {
    const float want = m[i] + sd[i] * n[i];
    ASSERT_NEAR(got[i], want, 1e-6f * (1.f + std::fabs(want))) << i;
  }
  EXPECT_THROW(d.sample(Tensor::zeros({1, 1, 1, 1})), Error);
}

TEST(VaeGolden, LatentScalingRoundTrip) {
  const Tensor z = tensor("decode_input");
  const Tensor unet = model().to_unet_latents(z);
  const float s = model().config().scaling_factor;
  EXPECT_FLOAT_EQ(unet.to_floats()[5], z.to_floats()[5] * s);
  EXPECT_TRUE(test::AllCloseRel(model().to_vae_latents(unet), z, 1e-6));
}

TEST(VaeGolden, RejectsBadInputs) {
  const VaeConfig& c = model().config();
  EXPECT_THROW(model().encode(Tensor::zeros({1, c.in_channels + 1, 16, 16})), Error);
  EXPECT_THROW(model().encode(Tensor::zeros({c.in_channels, 16, 16})), Error);
  EXPECT_THROW(model().decode(Tensor::zeros({1, c.latent_channels + 1, 2, 2})), Error);
  EXPECT_THROW(model().decode(Tensor::zeros({1, c.latent_channels, 2, 2}, DType::F16)), Error);
}

}  // namespace
}  // namespace ipa::vae
