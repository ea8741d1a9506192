// The LDM → diffusers UNet key converter (weights/ldm_unet_names.h) on single_file_sd15's
// original-layout checkpoint: every model.diffusion_model.* key must name a weight of
// pipeline_sd15's diffusers UNet holding the identical tensor, every UNet weight must be
// covered exactly once, and the converter must agree with the case's recorded key map.
// The layout comes from the UNet's config, so other tiny models of this structure work too.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "formats/tensor_file.h"
#include "models/unet/config.h"
#include "models/unet/ldm_layout.h"
#include "test_support.h"
#include "weights/ldm_unet_names.h"

namespace ipa {
namespace {

const std::string kUNetPrefix = "model.diffusion_model.";

// A single-file case, with the UNet config of the folder it was converted from.
struct SingleFile {
  explicit SingleFile(const std::string& name = "single_file_sd15") : c(test::load_case(name)) {}
  nlohmann::json c;
  unet::UNetConfig config =
      unet::load_unet_config(test::golden_path(test::single_file_config(c) + "/unet/config.json"));
  LdmUNetNames names{unet::ldm_unet_layout(config)};
};

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_floats() == b.to_floats();
}

TEST(GoldenLdmUNetNames, Sd15SingleFileMapsOntoTheDiffusersUNet) {
  SingleFile s;
  const TensorFile ldm =
      load_tensor_file(test::golden_path("single_file_sd15/tiny-sd15.safetensors"));
  const TensorFile diffusers = load_tensor_file(
      test::golden_path("pipeline_sd15/sd15/unet/diffusion_pytorch_model.safetensors"));
  std::map<std::string, std::string> seen;  // diffusers name → LDM key
  size_t unet_keys = 0;
  for (const auto& t : ldm.tensors) {
    if (!t.name.starts_with(kUNetPrefix)) continue;
    ++unet_keys;
    const std::string rel = t.name.substr(kUNetPrefix.size());
    const auto name = s.names.to_diffusers(rel);
    ASSERT_TRUE(name.has_value()) << "no diffusers name for " << t.name;
    const Tensor* expected = diffusers.find(*name);
    ASSERT_NE(expected, nullptr) << t.name << " → " << *name << " is not a UNet weight";
    EXPECT_TRUE(same_tensor(t.tensor, *expected)) << t.name << " → " << *name;
    EXPECT_TRUE(seen.emplace(*name, t.name).second) << *name << " named twice";
    EXPECT_EQ(s.names.to_ldm(*name), rel) << "the inverse of " << *name;
  }
  EXPECT_GT(unet_keys, 0u);
  for (const auto& t : diffusers.tensors) {
    EXPECT_TRUE(seen.count(t.name)) << "UNet weight " << t.name << " has no LDM key";
  }
  EXPECT_EQ(seen.size(), diffusers.tensors.size());
}

// The case records diffusers' own map (key_map.unet: diffusers name → LDM key) and the block
// prefixes (unet_layer_map: LDM prefix → diffusers prefix).
void check_recorded_key_map(const SingleFile& s) {
  size_t checked = 0;
  for (const auto& [diffusers, ldm] : s.c.at("key_map").at("unet").items()) {
    const std::string key = ldm.get<std::string>();
    ASSERT_TRUE(key.starts_with(kUNetPrefix)) << key;
    EXPECT_EQ(s.names.to_diffusers(key.substr(kUNetPrefix.size())), diffusers) << key;
    ++checked;
  }
  EXPECT_GT(checked, 0u);
  const auto prefixes = s.names.prefixes();
  const std::map<std::string, std::string> rules(prefixes.begin(), prefixes.end());
  for (const auto& pair : s.c.at("unet_layer_map")) {
    const std::string ldm = pair.at(0), diffusers = pair.at(1);
    // Upsamplers are recorded without the ".conv" both sides carry.
    const auto it = rules.count(ldm) ? rules.find(ldm) : rules.find(ldm + "conv.");
    ASSERT_NE(it, rules.end()) << ldm;
    EXPECT_TRUE(it->second == diffusers || it->second == diffusers + "conv.")
        << ldm << " → " << it->second << ", recorded " << diffusers;
  }
}

TEST(GoldenLdmUNetNames, AgreesWithTheRecordedKeyMap) {
  check_recorded_key_map(SingleFile("single_file_sd15"));
}

// SGM's SDXL layout (label_emb, transformer depth per block) follows the same rule.
TEST(GoldenLdmUNetNames, AgreesWithTheRecordedSdxlKeyMap) {
  check_recorded_key_map(SingleFile("single_file_sdxl"));
}

}  // namespace
}  // namespace ipa
