// AutoencoderKL against diffusers (case vae): encode → mean / logvar / std, decode.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

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
  Shape wrong = d.mean.shape();
  wrong[1] += 1;
  const std::string msg = test::error_of([&] { d.sample(Tensor::zeros(wrong)); });
  EXPECT_TRUE(test::contains(msg, "noise must be shaped like the mean")) << msg;
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
  // Sizes that are otherwise valid: the case's own image and latents.
  const Shape image = tensor("image").shape(), z = tensor("decode_input").shape();
  // Each error names what was wrong: the channel count the model wants and the shape given,
  // or the dtype.
  const auto expect_error = [](const std::function<void()>& f, const std::string& part) {
    const std::string msg = test::error_of(f);
    EXPECT_TRUE(test::contains(msg, part)) << "wanted '" << part << "' in: " << msg;
  };
  const Shape wide_image = {1, c.in_channels + 1, image[2], image[3]};
  expect_error([&] { model().encode(Tensor::zeros(wide_image)); },
               std::to_string(c.in_channels) + " channels, got " + shape_str(wide_image));
  const Shape flat_image = {c.in_channels, image[2], image[3]};
  expect_error([&] { model().encode(Tensor::zeros(flat_image)); },
               std::to_string(c.in_channels) + " channels, got " + shape_str(flat_image));
  const Shape wide_z = {1, c.latent_channels + 1, z[2], z[3]};
  expect_error([&] { model().decode(Tensor::zeros(wide_z)); },
               std::to_string(c.latent_channels) + " channels, got " + shape_str(wide_z));
  expect_error(
      [&] {
        model().decode(Tensor::zeros({1, c.latent_channels, z[2], z[3]}, DType::F16));
      },
      "expected F32, got");
}

}  // namespace
}  // namespace ipa::vae
