// UNet2DConditionModel with IP-Adapter's decoupled cross-attention against diffusers 0.30.3 +
// tencent-ailab IPAttnProcessor (cases unet_sd15_ip and sdxl). The golden image tokens are fed
// directly, so no projection model is involved.
// Tolerance: max|Δ| ≤ 1e-4·max|expected| (fp32 reference; our conv/linear/attention kernels
// sum in a different order, and attention uses an online softmax). Scale 0 must equal the
// plain UNet bit for bit, because the image branch is skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "adapter/ip_attention.h"
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

// The message of the ipa::Error `f` throws, "" when it throws none.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
using UNetConfig = unet::UNetConfig;

// An adapter file's attention weights bound to the UNet's attn2 layers.
IpAttentionWeights attach(const UNet2DConditionModel& unet, const std::string& adapter_path) {
  WeightStore store;
  store.add_file(adapter_path);
  return IpAttentionWeights::load(store.scope("ip_adapter"), unet.cross_attention_layers());
}

// The UNet with the image prompt as the reference runs it: every layer at `scale`, or per layer.
Tensor forward_ip(const UNet2DConditionModel& unet, UNetInputs in, const IpAttentionWeights& w,
                  const Tensor& tokens, float scale) {
  IpAttention ip;
  ip.add(w, tokens, scale);
  in.cross_attention = &ip;
  return unet.forward(in);
}
Tensor forward_ip(const UNet2DConditionModel& unet, UNetInputs in, const IpAttentionWeights& w,
                  const Tensor& tokens, const std::vector<float>& scales) {
  IpAttention ip;
  ip.add(w, tokens, scales);
  in.cross_attention = &ip;
  return unet.forward(in);
}

// The reference's encoder_hidden_states [B, Lt + T, C] split into (text, image tokens): the
// image tokens are the last T, as IPAttnProcessor takes them.
std::pair<Tensor, Tensor> split_tokens(const Tensor& ehs, int64_t num_ip_tokens) {
  const int64_t L = ehs.size(1);
  return {ehs.narrow(1, 0, L - num_ip_tokens).contiguous(),
          ehs.narrow(1, L - num_ip_tokens, num_ip_tokens).contiguous()};
}

// ---------------------------------------------------------------- SD1.5

struct Sd15 {
  nlohmann::json c = test::load_case("unet_sd15_ip");
  const TensorFile& g = test::load_golden("unet_sd15_ip");
  UNetInputs inputs() const {
    UNetInputs in;
    in.sample = test::golden_tensor(g, "latents");
    in.timestep = test::golden_tensor(g, "timestep");
    in.text = test::golden_tensor(g, "text_embeds");
    return in;
  }
  Tensor tokens(const std::string& variant) const {
    return test::golden_tensor(g, variant + ".ip_tokens");
  }
};

TEST(GoldenUNetSD15, PlainUNetMatchesReference) {
  Sd15 s;
  const Tensor out = sd15_unet().forward(s.inputs());
  EXPECT_TRUE(test::AllCloseRel(out, test::golden_tensor(s.g, "noise_pred_no_ip"), 1e-4));
}

// Every variant, every scale, from the .safetensors adapter files.
void check_sd15_variant(const std::string& variant, const std::string& file) {
  SCOPED_TRACE(variant + " from " + file);
  Sd15 s;
  auto& unet = sd15_unet();
  const IpAttentionWeights w = attach(unet, test::golden_path("unet_sd15_ip/" + file));
  const Tensor plain = unet.forward(s.inputs());
  for (const auto& scale : s.c.at("scales")) {
    SCOPED_TRACE("scale " + scale_name(scale));
    const Tensor out = forward_ip(unet, s.inputs(), w, s.tokens(variant), scale.get<float>());
    const Tensor expected =
        test::golden_tensor(s.g, variant + ".noise_pred_scale_" + scale_name(scale));
    EXPECT_TRUE(test::AllCloseRel(out, expected, 1e-4));
    if (scale.get<float>() == 0.f) {
      EXPECT_EQ(max_abs_diff(out, plain), 0.f);
    }
  }
}

TEST(GoldenUNetSD15, IpAdapterSafetensorsAllVariantsAndScales) {
  Sd15 s;
  int checked = 0;
  for (const auto& [variant, v] : s.c.at("variants").items()) {
    check_sd15_variant(variant, "ip-adapter_" + variant + ".safetensors");
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(s.c.at("variants").size()));
  EXPECT_GT(checked, 0);
}

// The .bin files (fp32 and fp16) hold the same values as the .safetensors: the attached weights
// must be identical, and one scale checks the whole path end to end.
TEST(GoldenUNetSD15, IpAdapterBinFilesFp32AndFp16) {
  Sd15 s;
  auto& unet = sd15_unet();
  for (const auto& [variant, v] : s.c.at("variants").items()) {
    const IpAttentionWeights reference =
        attach(unet, test::golden_path("unet_sd15_ip/ip-adapter_" + variant + ".safetensors"));
    for (const std::string suffix : {".bin", "_fp16.bin"}) {
      SCOPED_TRACE(variant + suffix);
      const IpAttentionWeights w =
          attach(unet, test::golden_path("unet_sd15_ip/ip-adapter_" + variant + suffix));
      ASSERT_EQ(w.num_layers(), reference.num_layers());
      for (int i = 0; i < w.num_layers(); ++i) {
        EXPECT_EQ(max_abs_diff(w.to_k(i).weight(), reference.to_k(i).weight()), 0.f);
        EXPECT_EQ(max_abs_diff(w.to_v(i).weight(), reference.to_v(i).weight()), 0.f);
      }
      EXPECT_TRUE(test::AllCloseRel(forward_ip(unet, s.inputs(), w, s.tokens(variant), 0.6f),
                                    test::golden_tensor(s.g, variant + ".noise_pred_scale_0.6"),
                                    1e-4));
    }
  }
}

TEST(GoldenUNetSD15, ReferenceLayoutConcatenatedTokensGivesSameResult) {
  Sd15 s;
  auto& unet = sd15_unet();
  const IpAttentionWeights w =
      attach(unet, test::golden_path("unet_sd15_ip/ip-adapter_plus.safetensors"));
  const int64_t T = s.c.at("variants").at("plus").at("num_tokens").get<int64_t>();
  auto [text, ip] = split_tokens(test::golden_tensor(s.g, "plus.encoder_hidden_states"), T);
  UNetInputs in = s.inputs();
  in.text = text;
  const Tensor out = forward_ip(unet, in, w, ip, 0.6f);
  EXPECT_EQ(max_abs_diff(out, forward_ip(unet, s.inputs(), w, s.tokens("plus"), 0.6f)), 0.f);
  EXPECT_TRUE(test::AllCloseRel(out, test::golden_tensor(s.g, "plus.noise_pred_scale_0.6"), 1e-4));
}

TEST(GoldenUNetSD15, PerLayerScales) {
  Sd15 s;
  auto& unet = sd15_unet();
  const IpAttentionWeights w =
      attach(unet, test::golden_path("unet_sd15_ip/ip-adapter_basic.safetensors"));
  const int n = w.num_layers();
  ASSERT_EQ(n, static_cast<int>(
                   s.c.at("variants").at("basic").at("ip_adapter_key_index_to_processor").size()));
  const Tensor tokens = s.tokens("basic");
  const Tensor all_one = forward_ip(unet, s.inputs(), w, tokens, std::vector<float>(n, 1.f));
  EXPECT_TRUE(
      test::AllCloseRel(all_one, test::golden_tensor(s.g, "basic.noise_pred_scale_1.0"), 1e-4));
  // Every layer at 0 → plain UNet exactly; a single active layer changes the result.
  const Tensor none = forward_ip(unet, s.inputs(), w, tokens, std::vector<float>(n, 0.f));
  EXPECT_EQ(max_abs_diff(none, unet.forward(s.inputs())), 0.f);
  std::vector<float> mid(n, 0.f);
  mid.back() = 1.f;  // the last layer only (in the mid block)
  const Tensor mid_only = forward_ip(unet, s.inputs(), w, tokens, mid);
  EXPECT_GT(max_abs_diff(mid_only, none), 0.f);
  EXPECT_GT(max_abs_diff(mid_only, all_one), 0.f);
  // The last layer is the one of the case map's highest checkpoint index (attn_processors
  // order: down, up, mid).
  int64_t last_index = -1;
  std::string last_processor;
  for (const auto& [k, proc] :
       s.c.at("variants").at("basic").at("ip_adapter_key_index_to_processor").items()) {
    if (std::stoll(k) > last_index) {
      last_index = std::stoll(k);
      last_processor = proc.get<std::string>();
    }
  }
  ASSERT_TRUE(last_processor.starts_with("mid_block.")) << last_processor;
  EXPECT_EQ(unet.cross_attention_layers().back().path + ".processor", last_processor);
  IpAttention ip;
  const std::string count = error_of([&] { ip.add(w, tokens, std::vector<float>(n + 1, 1.f)); });
  EXPECT_TRUE(test::contains(
      count, std::to_string(n + 1) + " layer scales given for " + std::to_string(n) + " layers"))
      << count;
  const std::string nan = error_of([&] { ip.add(w, tokens, NAN); });
  EXPECT_TRUE(test::contains(nan, "finite")) << nan;
}

TEST(GoldenUNetSD15, BatchOfOneMatchesItsRow) {
  Sd15 s;
  auto& unet = sd15_unet();
  const IpAttentionWeights w =
      attach(unet, test::golden_path("unet_sd15_ip/ip-adapter_full_face.safetensors"));
  UNetInputs full = s.inputs();
  const int64_t row = full.sample.size(0) - 1;  // the last row (the cond one in the case)
  UNetInputs one;
  one.sample = full.sample.narrow(0, row, 1).contiguous();
  one.timestep = full.timestep;
  one.text = full.text.narrow(0, row, 1).contiguous();
  const Tensor out =
      forward_ip(unet, one, w, s.tokens("full_face").narrow(0, row, 1).contiguous(), 0.6f);
  const Tensor expected =
      test::golden_tensor(s.g, "full_face.noise_pred_scale_0.6").narrow(0, row, 1).contiguous();
  EXPECT_TRUE(test::AllCloseRel(out, expected, 1e-4));
}

TEST(GoldenUNetSD15, OddLatentSizesUpsampleToTheSkipSize) {
  // 72×40 pixels → 9×5 latents: the down path gives 9×5 → 5×3 (→ 3×2 …), so each upsampler
  // must go back to its skip's size, not double (10×6).
  Sd15 s;
  auto& unet = sd15_unet();
  const int64_t cin = unet.config().in_channels, cout = unet.config().out_channels;
  UNetInputs in = s.inputs();
  const int64_t batch = in.text.size(0);
  in.sample = test::random_tensor({batch, cin, 9, 5}, 7);
  const Tensor out = unet.forward(in);
  EXPECT_EQ(out.shape(), (Shape{batch, cout, 9, 5}));
  for (float v : out.to_floats()) ASSERT_TRUE(std::isfinite(v));
  in.sample = test::random_tensor({1, cin, 3, 8}, 8);
  in.text = in.text.narrow(0, 0, 1).contiguous();
  EXPECT_EQ(unet.forward(in).shape(), (Shape{1, cout, 3, 8}));
}

// The UNet calls of the full SD1.5 generation case (another tiny model): every step's batch of
// (uncond, cond) with the reference-layout encoder states, IP scale 0.6.
TEST(GoldenUNetSD15, PipelineStepsNoisePredictions) {
  const auto c = test::load_case("pipeline_sd15");
  const TensorFile& g = test::load_golden("pipeline_sd15");
  auto unet = UNet2DConditionModel::load_dir(test::golden_path("pipeline_sd15/sd15/unet"));
  const IpAttentionWeights w = attach(
      unet, test::golden_path("pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.safetensors"));
  auto [text, ip] = split_tokens(test::golden_tensor(g, "encoder_hidden_states"),
                                 c.at("num_tokens").get<int64_t>());
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
    EXPECT_TRUE(test::AllCloseRel(
        forward_ip(unet, in, w, ip, c.at("generate_kwargs").at("scale").get<float>()),
        preds.select(0, i).contiguous(), 1e-4));
  }
}

// Extra residuals (ControlNet's hook): zeros change nothing; a non-zero residual on any skip,
// or on the mid block, changes the output; the wrong count or shape is refused.
TEST(UNetResiduals, ZeroResidualsChangeNothingOthersDo) {
  Sd15 s;
  auto& unet = sd15_unet();
  const Tensor plain = unet.forward(s.inputs());
  // The skip shapes: conv_in, every resnet and every downsampler of the down path.
  const auto& cfg = unet.config();
  const Tensor sample = s.inputs().sample;
  std::vector<Shape> skips;
  int64_t h = sample.size(2), w = sample.size(3);
  skips.push_back({sample.size(0), cfg.block_out_channels[0], h, w});
  for (const auto& b : cfg.down_blocks) {
    for (int l = 0; l < b.num_layers; ++l) skips.push_back({sample.size(0), b.out_channels, h, w});
    if (b.add_sample) {
      h = (h + 1) / 2;
      w = (w + 1) / 2;
      skips.push_back({sample.size(0), b.out_channels, h, w});
    }
  }
  UNetInputs in = s.inputs();
  for (const auto& shape : skips) in.down_residuals.push_back(Tensor::zeros(shape));
  in.mid_residual = Tensor::zeros(skips.back());
  EXPECT_EQ(max_abs_diff(unet.forward(in), plain), 0.f);
  in.down_residuals.front() = test::random_tensor(skips.front(), 3);
  EXPECT_GT(max_abs_diff(unet.forward(in), plain), 0.f);
  in.down_residuals.front() = Tensor::zeros(skips.front());
  in.mid_residual = test::random_tensor(skips.back(), 4);
  EXPECT_GT(max_abs_diff(unet.forward(in), plain), 0.f);
  in.down_residuals.pop_back();
  EXPECT_TRUE(test::contains(error_of([&] { unet.forward(in); }), "skip connections"));
}

// ---------------------------------------------------------------- SDXL

struct Sdxl {
  nlohmann::json c = test::load_case("sdxl");
  const TensorFile& g = test::load_golden("sdxl");
  UNetInputs inputs() const {
    UNetInputs in;
    in.sample = test::golden_tensor(g, "unet.latents");
    in.timestep = test::golden_tensor(g, "unet.timestep");
    in.text = test::golden_tensor(g, "unet.text_embeds");
    in.text_embeds = test::golden_tensor(g, "unet.added_cond.text_embeds");
    in.time_ids = test::golden_tensor(g, "unet.added_cond.time_ids");
    return in;
  }
  Tensor tokens(const std::string& variant) const {
    return test::golden_tensor(g, "unet." + variant + ".ip_tokens");
  }
};

TEST(GoldenUNetSDXL, PlainUNetWithTextTimeConditioning) {
  Sdxl s;
  EXPECT_TRUE(test::AllCloseRel(sdxl_unet().forward(s.inputs()),
                                test::golden_tensor(s.g, "unet.noise_pred_no_ip"), 1e-4));
}

void check_sdxl_files(const std::string& extension) {
  Sdxl s;
  auto& unet = sdxl_unet();
  int checked = 0;
  for (const auto& [variant, v] : s.c.at("variants").items()) {
    SCOPED_TRACE(variant + extension);
    const IpAttentionWeights w =
        attach(unet, test::golden_path("sdxl/ip-adapter_" + variant + extension));
    // sdxl.json lists no scales; they are the suffixes of the golden tensor names.
    const std::string prefix = "unet." + variant + ".noise_pred_scale_";
    int scales = 0;
    for (const auto& [name, spec] : s.c.at("tensors").items()) {
      if (name.rfind(prefix, 0) != 0) continue;
      const std::string scale = name.substr(prefix.size());
      SCOPED_TRACE("scale " + scale);
      const Tensor out = forward_ip(unet, s.inputs(), w, s.tokens(variant), std::stof(scale));
      EXPECT_TRUE(test::AllCloseRel(out, test::golden_tensor(s.g, name), 1e-4));
      ++scales;
    }
    EXPECT_GT(scales, 0);
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(s.c.at("variants").size()));
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
  const std::string missing = error_of([&] { sdxl_unet().forward(in); });
  EXPECT_TRUE(test::contains(missing, "time_ids")) << missing;
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

// The shape of a tensor in a file.
Shape file_shape(const std::string& path, const std::string& key) {
  const TensorFile f = load_tensor_file(path);
  const Tensor* t = f.find(key);
  EXPECT_NE(t, nullptr) << key;
  return t ? t->shape() : Shape{};
}

TEST(UNetErrors, SdxlAdapterOnSd15UNetNamesBothShapes) {
  auto& unet = sd15_unet();
  const std::string xl_adapter = test::golden_path("sdxl/ip-adapter_xl_basic.safetensors");
  const std::string msg = error_of([&] { attach(unet, xl_adapter); });
  // attn2 number 0 (checkpoint index 1) of the SD1.5 UNet against the SDXL adapter's tensor.
  const auto& layer = unet.cross_attention_layers().front();
  const Shape xl = file_shape(xl_adapter, "ip_adapter.1.to_k_ip.weight");
  const std::string expected = "expected shape " +
                               shape_str({layer.inner_dim(), layer.cross_attention_dim}) +
                               ", got " + shape_str(xl);
  EXPECT_TRUE(test::contains(msg, expected)) << expected << " not in: " << msg;
  EXPECT_NE(msg.find("cross_attention_dim"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ip_adapter.1.to_k_ip.weight"), std::string::npos) << msg;

  const std::string sd_adapter = test::golden_path("unet_sd15_ip/ip-adapter_basic.safetensors");
  const std::string msg2 = error_of([&] { attach(sdxl_unet(), sd_adapter); });
  const std::string got = "got " + shape_str(file_shape(sd_adapter, "ip_adapter.1.to_k_ip.weight"));
  EXPECT_TRUE(test::contains(msg2, got)) << got << " not in: " << msg2;
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
  const auto& layers = sd15_unet().cross_attention_layers();
  const int n = static_cast<int>(layers.size());
  auto load = [&](const WeightStore& st) {
    return error_of([&] { IpAttentionWeights::load(st.scope("ip_adapter"), layers); });
  };
  {
    // The last layer's value weights (checkpoint index 2n - 1) removed.
    const std::string key = "ip_adapter." + std::to_string(2 * n - 1) + ".to_v_ip.weight";
    const std::string msg = load(edited_adapter(key, ""));
    EXPECT_TRUE(test::contains(msg, "missing: " + key)) << msg;
  }
  {
    // One index past the UNet's last attn2.
    const std::string key = "ip_adapter." + std::to_string(2 * n + 1) + ".to_k_ip.weight";
    const std::string msg = load(edited_adapter("", key));
    EXPECT_TRUE(test::contains(msg, "not in this UNet: " + key)) << msg;
    EXPECT_TRUE(test::contains(msg, std::to_string(n) + " cross-attention layers")) << msg;
  }
  EXPECT_TRUE(
      test::contains(load(edited_adapter("", "ip_adapter.1.to_q_ip.weight")), "unexpected"));
  EXPECT_TRUE(test::contains(load(WeightStore()), "no IP-Adapter"));
}

TEST(UNetErrors, ImageTokensOfTheWrongWidthOrBatch) {
  Sd15 s;
  auto& unet = sd15_unet();
  const IpAttentionWeights w =
      attach(unet, test::golden_path("unet_sd15_ip/ip-adapter_basic.safetensors"));
  const Tensor tokens = s.tokens("basic");
  IpAttention ip;
  const Tensor wide = Tensor::zeros({tokens.size(0), tokens.size(1), tokens.size(2) + 16});
  EXPECT_TRUE(test::contains(error_of([&] { ip.add(w, wide, 1.f); }), "image tokens"));
  ip.add(w, tokens.narrow(0, 0, 1).contiguous(), 1.f);  // one row for a batch of two
  UNetInputs in = s.inputs();
  in.cross_attention = &ip;
  EXPECT_TRUE(test::contains(error_of([&] { unet.forward(in); }), "batch"));
  in = s.inputs();
  const Shape latents = in.sample.shape();
  in.sample = Tensor::zeros({latents[0], unet.config().in_channels + 1, latents[2], latents[3]});
  const std::string channels = error_of([&] { unet.forward(in); });
  EXPECT_TRUE(test::contains(
      channels, "sample must be [B, " + std::to_string(unet.config().in_channels) + ", H, W]"))
      << channels;
  in = s.inputs();
  in.timestep = Tensor::zeros({in.sample.size(0) + 1});
  const std::string steps = error_of([&] { unet.forward(in); });
  EXPECT_TRUE(test::contains(steps, "timestep")) << steps;
  in = s.inputs();
  in.text_embeds = Tensor::zeros({in.sample.size(0), 4});
  EXPECT_NE(error_of([&] { unet.forward(in); }).find("text_time"), std::string::npos);
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
  const nlohmann::json cfg = read_json_file(test::golden_path("unet_sd15_ip/unet/config.json"));
  // Wider blocks than the weights (every block twice as wide): a shape error naming the tensor
  // and both shapes.
  nlohmann::json wider = nlohmann::json::array();
  for (const auto& c : cfg.at("block_out_channels")) wider.push_back(2 * c.get<int64_t>());
  std::string msg = load_with_config_edit("block_out_channels", wider);
  EXPECT_NE(msg.find("expected shape"), std::string::npos) << msg;
  EXPECT_NE(msg.find("diffusion_pytorch_model.safetensors"), std::string::npos) << msg;
  // Deeper transformers than any block has: a missing tensor.
  const UNetConfig parsed = unet::parse_unet_config(cfg, "config.json");
  int deepest = 0;
  for (const auto& b : parsed.down_blocks) {
    for (int d : b.transformer_layers) deepest = std::max(deepest, d);
  }
  msg = load_with_config_edit("transformer_layers_per_block", deepest + 1);
  EXPECT_NE(msg.find("transformer_blocks." + std::to_string(deepest)), std::string::npos) << msg;
  // Fewer modules than the weights (no mid block): leftover weights are an error too.
  msg = load_with_config_edit("mid_block_type", nullptr);
  EXPECT_NE(msg.find("mid_block"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not used"), std::string::npos) << msg;
  // Another head count still loads (heads do not change shapes): one head always divides.
  EXPECT_EQ(load_with_config_edit("attention_head_dim", 1), "");
}

}  // namespace
}  // namespace ipa
