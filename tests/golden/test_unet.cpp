// UNet2DConditionModel with IP-Adapter's decoupled cross-attention against diffusers 0.30.3 +
// tencent-ailab IPAttnProcessor (cases unet_sd15_ip and sdxl). The golden image tokens are fed
// directly, so no projection model is involved.
// Tolerance: max|Δ| ≤ 1e-4·max|expected| (fp32 reference; our conv/linear/attention kernels
// sum in a different order, and attention uses an online softmax). Scale 0 must equal the
// plain UNet bit for bit, because the image branch is skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "formats/json_file.h"
#include "formats/tensor_file.h"
#include "models/unet/unet.h"
#include "test_support.h"

namespace ipa {
namespace {

using unet::UNet2DConditionModel;
using unet::UNetInputs;

UNet2DConditionModel& sd15_unet() {
  static UNet2DConditionModel m =
      UNet2DConditionModel::load_dir(test::golden_path("unet_sd15_ip/unet"));
  return m;
}

UNet2DConditionModel& sdxl_unet() {
  static UNet2DConditionModel m = UNet2DConditionModel::load_dir(test::golden_path("sdxl/unet"));
  return m;
}

// Python's str(float) of the scales as written in the case JSON: 0.0, 0.6, 1.0.
std::string scale_name(const nlohmann::json& s) {
  return s.dump();
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_floats(), y = b.to_floats();
  EXPECT_EQ(x.size(), y.size());
  float m = 0.f;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  return m;
}

void attach(UNet2DConditionModel& unet, const std::string& adapter_path) {
  WeightStore store;
  store.add_file(adapter_path);
  unet.load_ip_adapter(store.scope("ip_adapter"));
}

// ---------------------------------------------------------------- SD1.5

struct Sd15 {
  nlohmann::json c = test::load_case("unet_sd15_ip");
  const TensorFile& g = test::load_golden("unet_sd15_ip");
  UNetInputs inputs(const std::string& variant = "") const {
    UNetInputs in;
    in.sample = test::golden_tensor(g, "latents");
    in.timestep = test::golden_tensor(g, "timestep");
    in.text = test::golden_tensor(g, "text_embeds");
    if (!variant.empty()) in.ip_tokens = test::golden_tensor(g, variant + ".ip_tokens");
    return in;
  }
};

TEST(GoldenUNetSD15, PlainUNetMatchesReference) {
  Sd15 s;
  auto& unet = sd15_unet();
  unet.unload_ip_adapter();
  const Tensor out = unet.forward(s.inputs());
  EXPECT_TRUE(test::AllCloseRel(out, test::golden_tensor(s.g, "noise_pred_no_ip"), 1e-4));
}

// Every variant, every scale, from the .safetensors adapter files.
void check_sd15_variant(const std::string& variant, const std::string& file) {
  SCOPED_TRACE(variant + " from " + file);
  Sd15 s;
  auto& unet = sd15_unet();
  attach(unet, test::golden_path("unet_sd15_ip/" + file));
  ASSERT_TRUE(unet.has_ip_adapter());
  const Tensor plain = [&] {
    UNetInputs in = s.inputs();
    return unet.forward(in);  // adapter loaded but no image tokens: plain UNet
  }();
  for (const auto& scale : s.c.at("scales")) {
    SCOPED_TRACE("scale " + scale_name(scale));
    unet.set_ip_scale(scale.get<float>());
    const Tensor out = unet.forward(s.inputs(variant));
    const Tensor expected =
        test::golden_tensor(s.g, variant + ".noise_pred_scale_" + scale_name(scale));
    EXPECT_TRUE(test::AllCloseRel(out, expected, 1e-4));
    if (scale.get<float>() == 0.f) {
      EXPECT_EQ(max_abs_diff(out, plain), 0.f);
    }
  }
  unet.unload_ip_adapter();
}

TEST(GoldenUNetSD15, IpAdapterSafetensorsAllVariantsAndScales) {
  Sd15 s;
  int checked = 0;
  for (const auto& [variant, v] : s.c.at("variants").items()) {
    check_sd15_variant(variant, "ip-adapter_" + variant + ".safetensors");
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

// The .bin files (fp32 and fp16) hold the same values as the .safetensors: the attached weights
// must be identical, and one scale checks the whole path end to end.
TEST(GoldenUNetSD15, IpAdapterBinFilesFp32AndFp16) {
  Sd15 s;
  auto& unet = sd15_unet();
  for (const auto& [variant, v] : s.c.at("variants").items()) {
    attach(unet, test::golden_path("unet_sd15_ip/ip-adapter_" + variant + ".safetensors"));
    std::vector<std::pair<Tensor, Tensor>> reference;
    for (int i = 0; i < unet.num_ip_layers(); ++i)
      reference.emplace_back(unet.ip_layer(i).to_k_ip.weight, unet.ip_layer(i).to_v_ip.weight);
    for (const std::string suffix : {".bin", "_fp16.bin"}) {
      SCOPED_TRACE(variant + suffix);
      attach(unet, test::golden_path("unet_sd15_ip/ip-adapter_" + variant + suffix));
      for (int i = 0; i < unet.num_ip_layers(); ++i) {
        EXPECT_EQ(max_abs_diff(unet.ip_layer(i).to_k_ip.weight, reference[i].first), 0.f);
        EXPECT_EQ(max_abs_diff(unet.ip_layer(i).to_v_ip.weight, reference[i].second), 0.f);
      }
      unet.set_ip_scale(0.6f);
      EXPECT_TRUE(test::AllCloseRel(unet.forward(s.inputs(variant)),
                                    test::golden_tensor(s.g, variant + ".noise_pred_scale_0.6"),
                                    1e-4));
    }
  }
  unet.unload_ip_adapter();
}

TEST(GoldenUNetSD15, ReferenceLayoutConcatenatedTokensGivesSameResult) {
  Sd15 s;
  auto& unet = sd15_unet();
  attach(unet, test::golden_path("unet_sd15_ip/ip-adapter_plus.safetensors"));
  unet.set_ip_scale(0.6f);
  const int64_t T = s.c.at("variants").at("plus").at("num_tokens").get<int64_t>();
  auto [text, ip] =
      unet::split_encoder_hidden_states(test::golden_tensor(s.g, "plus.encoder_hidden_states"), T);
  UNetInputs in = s.inputs();
  in.text = text;
  in.ip_tokens = ip;
  const Tensor out = unet.forward(in);
  EXPECT_EQ(max_abs_diff(out, unet.forward(s.inputs("plus"))), 0.f);
  EXPECT_TRUE(test::AllCloseRel(out, test::golden_tensor(s.g, "plus.noise_pred_scale_0.6"), 1e-4));
  unet.unload_ip_adapter();
}

TEST(GoldenUNetSD15, PerLayerScales) {
  Sd15 s;
  auto& unet = sd15_unet();
  attach(unet, test::golden_path("unet_sd15_ip/ip-adapter_basic.safetensors"));
  ASSERT_EQ(unet.num_ip_layers(),
            static_cast<int>(
                s.c.at("variants").at("basic").at("ip_adapter_key_index_to_processor").size()));
  for (int i = 0; i < unet.num_ip_layers(); ++i) unet.set_ip_scale(i, 1.0f);
  const Tensor all_one = unet.forward(s.inputs("basic"));
  EXPECT_TRUE(
      test::AllCloseRel(all_one, test::golden_tensor(s.g, "basic.noise_pred_scale_1.0"), 1e-4));
  // Every layer at 0 → plain UNet exactly; a single active layer changes the result.
  for (int i = 0; i < unet.num_ip_layers(); ++i) unet.set_ip_scale(i, 0.f);
  const Tensor none = unet.forward(s.inputs("basic"));
  EXPECT_EQ(max_abs_diff(none, unet.forward(s.inputs())), 0.f);
  unet.set_ip_scale(unet.num_ip_layers() - 1, 1.f);  // the mid block only
  const Tensor mid_only = unet.forward(s.inputs("basic"));
  EXPECT_GT(max_abs_diff(mid_only, none), 0.f);
  EXPECT_GT(max_abs_diff(mid_only, all_one), 0.f);
  EXPECT_EQ(unet.ip_layer(unet.num_ip_layers() - 1).attn2_path,
            "mid_block.attentions.0.transformer_blocks.0.attn2");
  EXPECT_THROW(unet.set_ip_scale(unet.num_ip_layers(), 1.f), Error);
  EXPECT_THROW(unet.set_ip_scale(NAN), Error);
  unet.unload_ip_adapter();
}

TEST(GoldenUNetSD15, BatchOfOneMatchesItsRow) {
  Sd15 s;
  auto& unet = sd15_unet();
  attach(unet, test::golden_path("unet_sd15_ip/ip-adapter_full_face.safetensors"));
  unet.set_ip_scale(0.6f);
  UNetInputs full = s.inputs("full_face");
  UNetInputs one;
  one.sample = full.sample.narrow(0, 1, 1).contiguous();
  one.timestep = full.timestep;
  one.text = full.text.narrow(0, 1, 1).contiguous();
  one.ip_tokens = full.ip_tokens.narrow(0, 1, 1).contiguous();
  const Tensor out = unet.forward(one);
  const Tensor expected =
      test::golden_tensor(s.g, "full_face.noise_pred_scale_0.6").narrow(0, 1, 1).contiguous();
  EXPECT_TRUE(test::AllCloseRel(out, expected, 1e-4));
  unet.unload_ip_adapter();
}

TEST(GoldenUNetSD15, OddLatentSizesUpsampleToTheSkipSize) {
  // 72×40 pixels → 9×5 latents: the down path gives 9×5 → 5×3, so the upsampler must go back
  // to 9×5 (the skip's size), not 10×6.
  Sd15 s;
  auto& unet = sd15_unet();
  UNetInputs in = s.inputs();
  in.sample = test::random_tensor({2, 4, 9, 5}, 7);
  const Tensor out = unet.forward(in);
  EXPECT_EQ(out.shape(), (Shape{2, 4, 9, 5}));
  for (float v : out.to_floats()) ASSERT_TRUE(std::isfinite(v));
  in.sample = test::random_tensor({1, 4, 3, 8}, 8);
  in.text = in.text.narrow(0, 0, 1).contiguous();
  EXPECT_EQ(unet.forward(in).shape(), (Shape{1, 4, 3, 8}));
}

// The UNet calls of the full SD1.5 generation case (another tiny model): every step's batch of
// (uncond, cond) with the reference-layout encoder states, IP scale 0.6.
TEST(GoldenUNetSD15, PipelineStepsNoisePredictions) {
  const auto c = test::load_case("pipeline_sd15");
  const TensorFile& g = test::load_golden("pipeline_sd15");
  auto unet = UNet2DConditionModel::load_dir(test::golden_path("pipeline_sd15/sd15/unet"));
  attach(unet, test::golden_path("pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.safetensors"));
  unet.set_ip_scale(c.at("generate_kwargs").at("scale").get<float>());
  auto [text, ip] = unet::split_encoder_hidden_states(
      test::golden_tensor(g, "encoder_hidden_states"), c.at("num_tokens").get<int64_t>());
  const Tensor inputs = test::golden_tensor(g, "step_unet_input");
  const Tensor preds = test::golden_tensor(g, "step_noise_pred");
  const Tensor timesteps = test::golden_tensor(g, "timesteps");
  ASSERT_GT(inputs.size(0), 0);
  for (int64_t i = 0; i < inputs.size(0); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    UNetInputs in;
    in.sample = inputs.select(0, i).contiguous();
    in.timestep = timesteps.select(0, i).contiguous();
    in.text = text;
    in.ip_tokens = ip;
    EXPECT_TRUE(test::AllCloseRel(unet.forward(in), preds.select(0, i).contiguous(), 1e-4));
  }
}

// ---------------------------------------------------------------- SDXL

struct Sdxl {
  nlohmann::json c = test::load_case("sdxl");
  const TensorFile& g = test::load_golden("sdxl");
  UNetInputs inputs(const std::string& variant = "") const {
    UNetInputs in;
    in.sample = test::golden_tensor(g, "unet.latents");
    in.timestep = test::golden_tensor(g, "unet.timestep");
    in.text = test::golden_tensor(g, "unet.text_embeds");
    in.text_embeds = test::golden_tensor(g, "unet.added_cond.text_embeds");
    in.time_ids = test::golden_tensor(g, "unet.added_cond.time_ids");
    if (!variant.empty()) in.ip_tokens = test::golden_tensor(g, "unet." + variant + ".ip_tokens");
    return in;
  }
};

TEST(GoldenUNetSDXL, PlainUNetWithTextTimeConditioning) {
  Sdxl s;
  auto& unet = sdxl_unet();
  unet.unload_ip_adapter();
  EXPECT_TRUE(test::AllCloseRel(unet.forward(s.inputs()),
                                test::golden_tensor(s.g, "unet.noise_pred_no_ip"), 1e-4));
}

void check_sdxl_files(const std::string& extension) {
  Sdxl s;
  auto& unet = sdxl_unet();
  int checked = 0;
  for (const auto& [variant, v] : s.c.at("variants").items()) {
    SCOPED_TRACE(variant + extension);
    attach(unet, test::golden_path("sdxl/ip-adapter_" + variant + extension));
    // sdxl.json lists no scales; they are the suffixes of the golden tensor names.
    const std::string prefix = "unet." + variant + ".noise_pred_scale_";
    int scales = 0;
    for (const auto& [name, spec] : s.c.at("tensors").items()) {
      if (name.rfind(prefix, 0) != 0) continue;
      const std::string scale = name.substr(prefix.size());
      SCOPED_TRACE("scale " + scale);
      unet.set_ip_scale(std::stof(scale));
      const Tensor out = unet.forward(s.inputs(variant));
      EXPECT_TRUE(test::AllCloseRel(out, test::golden_tensor(s.g, name), 1e-4));
      ++scales;
    }
    EXPECT_EQ(scales, 3);
    ++checked;
  }
  EXPECT_EQ(checked, 2);
  unet.unload_ip_adapter();
}

TEST(GoldenUNetSDXL, IpAdapterSafetensors) {
  check_sdxl_files(".safetensors");
}
TEST(GoldenUNetSDXL, IpAdapterBin) {
  check_sdxl_files(".bin");
}

TEST(GoldenUNetSDXL, MissingTextTimeInputsAreAnError) {
  Sdxl s;
  UNetInputs in = s.inputs();
  in.time_ids = {};
  EXPECT_THROW(sdxl_unet().forward(in), Error);
  in = s.inputs();
  in.time_ids = in.time_ids.narrow(1, 0, 5).contiguous();
  try {
    sdxl_unet().forward(in);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("projection_class_embeddings_input_dim"),
              std::string::npos)
        << e.what();
  }
}

// ---------------------------------------------------------------- errors

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(UNetErrors, SdxlAdapterOnSd15UNetNamesBothShapes) {
  auto& unet = sd15_unet();
  unet.unload_ip_adapter();
  const std::string msg =
      error_of([&] { attach(unet, test::golden_path("sdxl/ip-adapter_xl_basic.safetensors")); });
  // Layer 1 of the tiny SD1.5 UNet expects [inner 32, C 32]; the SDXL adapter's tokens are 48 wide.
  EXPECT_NE(msg.find("expected shape [32, 32], got [32, 48]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cross_attention_dim"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ip_adapter.1.to_k_ip.weight"), std::string::npos) << msg;
  EXPECT_FALSE(unet.has_ip_adapter());  // left unchanged

  auto& xl = sdxl_unet();
  xl.unload_ip_adapter();
  const std::string msg2 =
      error_of([&] { attach(xl, test::golden_path("unet_sd15_ip/ip-adapter_basic.safetensors")); });
  EXPECT_NE(msg2.find("got [32, 32]"), std::string::npos) << msg2;
}

// Copies an adapter's ip_adapter.* tensors into a store, with edits.
WeightStore edited_adapter(const std::string& skip_key, const std::string& extra_key) {
  const TensorFile f =
      load_tensor_file(test::golden_path("unet_sd15_ip/ip-adapter_basic.safetensors"));
  WeightStore store;
  store.set_label("edited adapter");
  for (const auto& nt : f.tensors) {
    if (nt.name.rfind("ip_adapter.", 0) != 0 || nt.name == skip_key) continue;
    store.add(nt.name, nt.tensor, "edited adapter");
  }
  if (!extra_key.empty()) store.add(extra_key, f.find("ip_adapter.1.to_k_ip.weight")->clone(), "x");
  return store;
}

TEST(UNetErrors, MissingOrExtraIpKeys) {
  auto& unet = sd15_unet();
  unet.unload_ip_adapter();
  {
    WeightStore st = edited_adapter("ip_adapter.5.to_v_ip.weight", "");
    const std::string msg = error_of([&] { unet.load_ip_adapter(st.scope("ip_adapter")); });
    EXPECT_NE(msg.find("missing: ip_adapter.5.to_v_ip.weight"), std::string::npos) << msg;
  }
  {
    WeightStore st = edited_adapter("", "ip_adapter.9.to_k_ip.weight");
    const std::string msg = error_of([&] { unet.load_ip_adapter(st.scope("ip_adapter")); });
    EXPECT_NE(msg.find("not in this UNet: ip_adapter.9.to_k_ip.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("4 cross-attention layers"), std::string::npos) << msg;
  }
  {
    WeightStore st = edited_adapter("", "ip_adapter.1.to_q_ip.weight");
    const std::string msg = error_of([&] { unet.load_ip_adapter(st.scope("ip_adapter")); });
    EXPECT_NE(msg.find("unexpected"), std::string::npos) << msg;
  }
  {
    WeightStore empty;
    EXPECT_NE(
        error_of([&] { unet.load_ip_adapter(empty.scope("ip_adapter")); }).find("no IP-Adapter"),
        std::string::npos);
  }
  EXPECT_FALSE(unet.has_ip_adapter());
}

TEST(UNetErrors, IpTokensWithoutAdapterOrWrongWidth) {
  Sd15 s;
  auto& unet = sd15_unet();
  unet.unload_ip_adapter();
  EXPECT_NE(error_of([&] { unet.forward(s.inputs("basic")); }).find("no IP-Adapter is loaded"),
            std::string::npos);
  attach(unet, test::golden_path("unet_sd15_ip/ip-adapter_basic.safetensors"));
  UNetInputs in = s.inputs();
  in.ip_tokens = Tensor::zeros({2, 4, 48});
  EXPECT_NE(error_of([&] { unet.forward(in); }).find("image prompt tokens"), std::string::npos);
  in.ip_tokens = Tensor::zeros({1, 4, 32});
  EXPECT_THROW(unet.forward(in), Error);
  in = s.inputs();
  in.sample = Tensor::zeros({2, 3, 8, 8});
  EXPECT_THROW(unet.forward(in), Error);
  in = s.inputs();
  in.timestep = Tensor::zeros({3});
  EXPECT_THROW(unet.forward(in), Error);
  in = s.inputs();
  in.text_embeds = Tensor::zeros({2, 4});
  EXPECT_NE(error_of([&] { unet.forward(in); }).find("text_time"), std::string::npos);
  unet.unload_ip_adapter();
}

// The SD1.5 golden UNet loaded with an edited config.
std::string load_with_config_edit(const std::string& key, const nlohmann::json& value) {
  nlohmann::json cfg = read_json_file(test::golden_path("unet_sd15_ip/unet/config.json"));
  cfg[key] = value;
  WeightStore store;
  store.add_file(test::golden_path("unet_sd15_ip/unet/diffusion_pytorch_model.safetensors"));
  return error_of([&] {
    UNet2DConditionModel::load(unet::parse_unet_config(cfg, "edited config.json"), store.scope(""));
  });
}

TEST(UNetErrors, ConfigThatDoesNotMatchTheWeights) {
  // Wider blocks than the weights: a shape error naming the tensor and both shapes.
  std::string msg = load_with_config_edit("block_out_channels", {32, 128});
  EXPECT_NE(msg.find("expected shape"), std::string::npos) << msg;
  EXPECT_NE(msg.find("diffusion_pytorch_model.safetensors"), std::string::npos) << msg;
  // Deeper transformers than the weights: a missing tensor.
  msg = load_with_config_edit("transformer_layers_per_block", 2);
  EXPECT_NE(msg.find("transformer_blocks.1"), std::string::npos) << msg;
  // Fewer modules than the weights (no mid block): leftover weights are an error too.
  msg = load_with_config_edit("mid_block_type", nullptr);
  EXPECT_NE(msg.find("mid_block"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not used"), std::string::npos) << msg;
  // Another head count still loads (heads do not change shapes) — 8 → 4 must load fine.
  EXPECT_EQ(load_with_config_edit("attention_head_dim", 4), "");
}

}  // namespace
}  // namespace ipa
