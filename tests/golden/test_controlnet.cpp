// ControlNetModel against diffusers 0.30.3 (cases controlnet_sd15, controlnet_sdxl): every
// denoising step's ControlNet call of StableDiffusion(XL)ControlNetPipeline + IP-Adapter, fed
// the golden step inputs. The residuals come out of a half UNet (F32 reference, our conv /
// linear / attention kernels sum in another order), so the tolerance is the UNet tests':
// max|Δ| ≤ 1e-4·max|expected| per residual. The UNet fed the golden residuals (with the
// case's IP-Adapter at its scale) must reproduce the step's noise prediction within the same
// bound, and so must the chain ControlNet → UNet.
// Every size, count and scale comes from the case JSON and the tensors' shapes.
#include <gtest/gtest.h>

#include "adapter/ip_attention.h"
#include "models/controlnet/controlnet.h"
#include "models/unet/unet.h"
#include "test_support.h"

namespace ipa {
namespace {

using controlnet::ControlNetInputs;
using controlnet::ControlNetModel;
using controlnet::ControlNetOutput;
using unet::UNet2DConditionModel;
using unet::UNetInputs;

constexpr double kTol = 1e-4;

struct Case {
  std::string name;
  nlohmann::json c = test::load_case(name);
  const TensorFile& g = test::load_golden(name);
  bool sdxl =
      c.at("controlnet_config").value("addition_embed_type", nlohmann::json()) == "text_time";

  Tensor golden(const std::string& key) const { return test::golden_tensor(g, key); }
  Tensor step(const std::string& key, int64_t i) const {
    return golden(key).select(0, i).contiguous();
  }
  int64_t steps() const { return golden("timesteps").size(0); }
  // Residual count: the step_controlnet_down.<j> tensors the case lists.
  size_t num_down() const {
    size_t n = 0;
    while (c.at("tensors").contains("step_controlnet_down." + std::to_string(n))) ++n;
    return n;
  }
  // diffusers: cond_scale = controlnet_conditioning_scale · keep[i], keep[i] = 0 outside the
  // control_guidance_start/end window.
  float cond_scale(int64_t i) const {
    const auto& call = c.at("call");
    const double n = static_cast<double>(steps());
    const double start = call.value("control_guidance_start", 0.0);
    const double end = call.value("control_guidance_end", 1.0);
    const bool off = i / n < start || (i + 1) / n > end;
    return off ? 0.f : call.at("controlnet_conditioning_scale").get<float>();
  }
  // The text the ControlNet and the UNet get (CFG batch: negative first).
  Tensor text() const {
    if (sdxl) return golden("encoder_hidden_states");
    return ops::concat({golden("negative_prompt_embeds"), golden("prompt_embeds")}, 0);
  }
  ControlNetInputs controlnet_inputs(int64_t i) const {
    ControlNetInputs in;
    in.sample = step("step_unet_input", i);
    in.timestep = step("timesteps", i);
    in.text = text();
    if (sdxl) {
      in.text_embeds = golden("add_text_embeds");
      in.time_ids = golden("add_time_ids");
    }
    in.image = golden("control_image");
    in.conditioning_scale = cond_scale(i);
    in.guess_mode = c.at("call").value("guess_mode", false);
    return in;
  }
  UNetInputs unet_inputs(int64_t i) const {
    UNetInputs in;
    in.sample = step("step_unet_input", i);
    in.timestep = step("timesteps", i);
    in.text = text();
    if (sdxl) {
      in.text_embeds = golden("add_text_embeds");
      in.time_ids = golden("add_time_ids");
    }
    return in;
  }
  // The case's base pipeline folder (the JSON's "../pipeline_*/…" folder entry) and adapter.
  std::string base() const {
    for (const auto& [folder, what] : c.at("folders").items()) {
      if (folder.starts_with("../")) return folder.substr(3);
    }
    ADD_FAILURE() << "no base pipeline folder in " << name;
    return {};
  }
  std::string adapter() const {
    const auto& files = c.at("folders").at(sdxl ? "IP-Adapter/sdxl_models" : "IP-Adapter/models");
    for (const auto& f : files) {
      if (f.get<std::string>().ends_with(".safetensors")) return name + "/" + f.get<std::string>();
    }
    ADD_FAILURE() << "no .safetensors adapter listed in " << name;
    return {};
  }
};

void check_residuals(const Case& k, const ControlNetModel& cn) {
  const size_t n = k.num_down();
  ASSERT_GT(n, 0u);
  ASSERT_GT(k.steps(), 0);
  for (int64_t i = 0; i < k.steps(); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    const ControlNetOutput out = cn.forward(k.controlnet_inputs(i));
    ASSERT_EQ(out.down_residuals.size(), n);
    for (size_t j = 0; j < n; ++j) {
      SCOPED_TRACE("down residual " + std::to_string(j));
      EXPECT_TRUE(test::AllCloseRel(out.down_residuals[j],
                                    k.step("step_controlnet_down." + std::to_string(j), i), kTol));
    }
    EXPECT_TRUE(test::AllCloseRel(out.mid_residual, k.step("step_controlnet_mid", i), kTol));
  }
}

TEST(GoldenControlNet, Sd15StepResiduals) {
  const Case k{"controlnet_sd15"};
  ASSERT_FALSE(k.sdxl);
  check_residuals(k, ControlNetModel::load_dir(test::golden_path("controlnet_sd15/controlnet")));
}

TEST(GoldenControlNet, SdxlStepResiduals) {
  const Case k{"controlnet_sdxl"};
  ASSERT_TRUE(k.sdxl);
  check_residuals(k, ControlNetModel::load_dir(test::golden_path("controlnet_sdxl/controlnet")));
}

// The config recorded in the JSON is the folder's config.json.
TEST(GoldenControlNet, RecordedConfigIsTheFolders) {
  for (const std::string name : {"controlnet_sd15", "controlnet_sdxl"}) {
    SCOPED_TRACE(name);
    const Case k{name};
    const auto a = controlnet::parse_controlnet_config(k.c.at("controlnet_config"), name);
    const auto b = controlnet::load_controlnet_config(test::golden_path(name + "/controlnet"));
    EXPECT_EQ(a.conditioning_embedding_out_channels, b.conditioning_embedding_out_channels);
    EXPECT_EQ(controlnet::skip_channels(a.unet), controlnet::skip_channels(b.unet));
    EXPECT_EQ(controlnet::skip_channels(a.unet).size(), k.num_down());
  }
}

// The UNet with the golden residuals added (and the case's IP-Adapter) gives the step's noise
// prediction; so does the UNet fed our own ControlNet's residuals.
void check_unet_with_residuals(const Case& k) {
  const auto unet = UNet2DConditionModel::load_dir(test::golden_path(k.base() + "/unet"));
  const auto cn = ControlNetModel::load_dir(test::golden_path(k.name + "/controlnet"));
  EXPECT_NO_THROW(controlnet::check_compatible(cn.config(), unet.config()));
  WeightStore store;
  store.add_file(test::golden_path(k.adapter()));
  const IpAttentionWeights w =
      IpAttentionWeights::load(store.scope("ip_adapter"), unet.cross_attention_layers());
  const Tensor t = k.golden("ip_tokens.0");  // [B, images, T, C]
  const Tensor tokens = t.reshape({t.size(0), t.size(1) * t.size(2), t.size(3)});
  const float scale = k.c.at("call").at("set_ip_adapter_scale").get<float>();
  for (int64_t i = 0; i < k.steps(); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    IpAttention ip;
    ip.add(w, tokens, scale);
    UNetInputs in = k.unet_inputs(i);
    in.cross_attention = &ip;
    for (size_t j = 0; j < k.num_down(); ++j) {
      in.down_residuals.push_back(k.step("step_controlnet_down." + std::to_string(j), i));
    }
    in.mid_residual = k.step("step_controlnet_mid", i);
    const Tensor expected = k.step("step_noise_pred", i);
    EXPECT_TRUE(test::AllCloseRel(unet.forward(in), expected, kTol));

    UNetInputs chained = k.unet_inputs(i);
    chained.cross_attention = &ip;
    controlnet::add_residuals(cn.forward(k.controlnet_inputs(i)), &chained);
    EXPECT_TRUE(test::AllCloseRel(unet.forward(chained), expected, kTol));
  }
}

TEST(GoldenControlNet, Sd15UNetWithResidualsMatchesNoisePrediction) {
  check_unet_with_residuals(Case{"controlnet_sd15"});
}

TEST(GoldenControlNet, SdxlUNetWithResidualsMatchesNoisePrediction) {
  check_unet_with_residuals(Case{"controlnet_sdxl"});
}

}  // namespace
}  // namespace ipa
