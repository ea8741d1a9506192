// The CLIP vision encoder and the VAE as the reference pipelines use them: the CLIP feature
// each IP-Adapter variant feeds its projection (case embed_variants, two encoder widths), and
// the encoder / VAE steps of a full SD1.5 generation (case pipeline_sd15).
#include <gtest/gtest.h>

#include "models/clip_vision.h"
#include "models/vae/autoencoder_kl.h"
#include "test_support.h"

namespace ipa {
namespace {

constexpr double kTol = 1e-4;  // fp32 module tolerance: max|Δ| ≤ 1e-4 · max|expected|

Tensor ev(const std::string& key) {
  return test::golden_tensor(test::load_golden("embed_variants"), key);
}

// pixel_values for "img0", "img1" or "both" (the two stacked, as the reference does).
Tensor pixels(const std::string& which) {
  if (which == "both") return ops::concat({ev("pixel_values.img0"), ev("pixel_values.img1")}, 0);
  return ev("pixel_values." + which);
}

const ClipVisionModel& encoder(const std::string& name) {
  static std::map<std::string, std::unique_ptr<ClipVisionModel>> cache;
  auto& slot = cache[name];
  if (!slot) {
    slot = std::make_unique<ClipVisionModel>(
        ClipVisionModel::load(test::golden_path("embed_variants/" + name)));
  }
  return *slot;
}

struct Variant {
  const char* cls;
  const char* encoder;
  bool penultimate;  // hidden_states[-2] (plus / full-face) instead of image_embeds
};

void PrintTo(const Variant& v, std::ostream* os) {
  *os << v.cls << " on " << v.encoder;
}

class EmbedVariantFeatures : public ::testing::TestWithParam<Variant> {};

TEST_P(EmbedVariantFeatures, ClipFeatureAndUncond) {
  const Variant v = GetParam();
  const ClipVisionModel& model = encoder(v.encoder);
  ClipVisionRequest want;
  want.image_embeds = !v.penultimate;
  want.penultimate = v.penultimate;
  for (const std::string which : {"img0", "img1", "both"}) {
    SCOPED_TRACE(std::string(v.cls) + "." + which);
    const std::string key = std::string(v.cls) + "." + which;
    const Tensor x = pixels(which);
    const ClipVisionOutput out = model.forward(x, want);
    const Tensor uncond_expected = ev(key + ".uncond_clip_feature");
    if (v.penultimate) {
      EXPECT_TRUE(test::AllCloseRel(out.penultimate, ev(key + ".clip_feature"), kTol));
      // The plus / full-face uncond feature is the encoder run on an all-zero image.
      const ClipVisionOutput zero = model.forward(Tensor::zeros(x.shape()), want);
      EXPECT_TRUE(test::AllCloseRel(zero.penultimate, uncond_expected, kTol));
    } else {
      EXPECT_TRUE(test::AllCloseRel(out.image_embeds, ev(key + ".clip_feature"), kTol));
      EXPECT_TRUE(test::AllCloseAbs(Tensor::zeros(out.image_embeds.shape()), uncond_expected, 0));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, EmbedVariantFeatures,
                         ::testing::Values(Variant{"IPAdapter", "image_encoder", false},
                                           Variant{"IPAdapterXL", "image_encoder_g", false},
                                           Variant{"IPAdapterPlus", "image_encoder", true},
                                           Variant{"IPAdapterFull", "image_encoder", true},
                                           Variant{"IPAdapterPlusXL", "image_encoder", true}),
                         [](const auto& info) { return std::string(info.param.cls); });

Tensor p15(const std::string& key) {
  return test::golden_tensor(test::load_golden("pipeline_sd15"), key);
}

TEST(PipelineSd15Vision, ClipImageEmbeds) {
  const ClipVisionModel model =
      ClipVisionModel::load(test::golden_path("pipeline_sd15/IP-Adapter/models/image_encoder"));
  const ClipVisionOutput out = model.forward(p15("clip_pixel_values"));
  EXPECT_TRUE(test::AllCloseRel(out.image_embeds, p15("clip_image_embeds"), kTol));
}

// The pipeline decodes final_latents / scaling_factor: decode(to_vae_latents(final_latents)).
TEST(PipelineSd15Vision, VaeDecodesFinalLatents) {
  const vae::AutoencoderKL vae =
      vae::AutoencoderKL::load(test::golden_path("pipeline_sd15/sd15/vae"));
  const Tensor image = vae.decode(vae.to_vae_latents(p15("final_latents")));
  EXPECT_TRUE(test::AllCloseRel(image, p15("vae_decoded"), kTol));
}

}  // namespace
}  // namespace ipa
