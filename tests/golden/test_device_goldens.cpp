// The module goldens on a device: models loaded with their weights on the device of
// IPADAPTER_TEST_DEVICE (default: the emulated device of tests/support, host memory that only
// its backend may touch; "cuda" in a CUDA build), host inputs moved there, results brought
// back and compared with the same goldens and tolerances (test::golden_tolerance) as the host
// tests. On the emulated device F32 results must also equal the host's bit for bit: the
// backend runs the host ops, so any difference is a plumbing bug.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "adapter/ip_attention.h"
#include "emulated_device.h"
#include "image/decode.h"
#include "ipadapter/embedder.h"
#include "ipadapter/engine.h"
#include "models/clip_text.h"
#include "models/unet/unet.h"
#include "models/vae/autoencoder_kl.h"
#include "test_support.h"
#include "weights/model_folder.h"

namespace ipa {
namespace {

using unet::UNet2DConditionModel;
using unet::UNetInputs;

constexpr double kModuleTol = 1e-4;    // the host module goldens' (test_unet.cpp, test_vae.cpp)
constexpr double kPipelineTol = 1e-3;  // the host pipeline goldens' (test_cli_generate.cpp)
constexpr int kPixelTol = 1;

std::string device_name(const ::testing::TestParamInfo<Device>& info) {
  std::string n = info.param.name();
  for (char& c : n) {
    if (c == ':') c = '_';
  }
  return n;
}

class DeviceGolden : public ::testing::TestWithParam<Device> {
 protected:
  Device dev() const { return GetParam(); }
  bool emulated() const { return dev().type == DeviceType::Emulated; }
  // The folder's weights, on the device.
  ModelFolder folder(const std::string& rel) const {
    ModelFolder f = open_model_folder(test::golden_path(rel));
    f.weights.set_device(dev());
    return f;
  }
  // A result: on the device, then its host copy.
  Tensor host_of(const Tensor& t) const {
    EXPECT_EQ(t.device(), dev()) << "the result left the device";
    return t.to(Device{});
  }
  // On the emulated device the result must equal the host's bit for bit: the same CPU ops on
  // the same layouts (channels-last activations and packed weights included).
  void expect_golden(const Tensor& got, const Tensor& want, const Tensor& host_result) const {
    EXPECT_TRUE(test::AllCloseRel(got, want, test::golden_tolerance(dev(), kModuleTol)));
    if (emulated()) {
      ASSERT_EQ(got.shape(), host_result.shape());
      EXPECT_EQ(std::memcmp(got.raw(), host_result.contiguous().raw(), got.nbytes()), 0)
          << "the emulated device differs from the host";
    }
  }
};

UNetInputs to_device(UNetInputs in, Device d) {
  for (Tensor* t : {&in.sample, &in.timestep, &in.text, &in.text_embeds, &in.time_ids}) {
    if (t->defined()) *t = t->to(d);
  }
  return in;
}

UNet2DConditionModel load_unet(const ModelFolder& f) {
  return UNet2DConditionModel::load(unet::parse_unet_config(f.config, f.config_path),
                                    f.weights.scope(""));
}

TEST_P(DeviceGolden, UNetSd15PlainAndWithIpAdapter) {
  const nlohmann::json c = test::load_case("unet_sd15_ip");
  const TensorFile& g = test::load_golden("unet_sd15_ip");
  UNetInputs in;
  in.sample = test::golden_tensor(g, "latents");
  in.timestep = test::golden_tensor(g, "timestep");
  in.text = test::golden_tensor(g, "text_embeds");
  const ModelFolder f = folder("unet_sd15_ip/unet");
  const UNet2DConditionModel unet = load_unet(f);
  const UNet2DConditionModel host_unet = UNet2DConditionModel::load_dir(f.dir);
  test::reset_emulated_device_stats();
  const Tensor out = unet.forward(to_device(in, dev()));
  if (emulated()) {
    // Inputs up, result down, nothing else crosses the wall (the timestep's value is read).
    EXPECT_LE(test::emulated_device_stats().downloads, 2u);
  }
  expect_golden(host_of(out), test::golden_tensor(g, "noise_pred_no_ip"), host_unet.forward(in));

  // The first variant at the largest scale, its adapter weights on the device.
  const auto& [variant, v] = *c.at("variants").items().begin();
  const std::string file = "ip-adapter_" + variant + ".safetensors";  // as test_unet.cpp
  ASSERT_NE(v.at("files").dump().find(file), std::string::npos) << file;
  const nlohmann::json scale = c.at("scales").back();
  SCOPED_TRACE(variant + " from " + file + " at scale " + scale.dump());
  WeightStore store;
  store.add_file(test::golden_path("unet_sd15_ip/" + file));
  store.set_device(dev());
  const IpAttentionWeights w =
      IpAttentionWeights::load(store.scope("ip_adapter"), unet.cross_attention_layers());
  const Tensor tokens = test::golden_tensor(g, variant + ".ip_tokens");
  IpAttention ip;
  ip.add(w, tokens.to(dev()), scale.get<float>());
  UNetInputs ip_in = to_device(in, dev());
  ip_in.cross_attention = &ip;
  const Tensor ip_out = unet.forward(ip_in);

  WeightStore host_store;
  host_store.add_file(test::golden_path("unet_sd15_ip/" + file));
  const IpAttentionWeights hw =
      IpAttentionWeights::load(host_store.scope("ip_adapter"), host_unet.cross_attention_layers());
  IpAttention host_ip;
  host_ip.add(hw, tokens, scale.get<float>());
  UNetInputs host_in = in;
  host_in.cross_attention = &host_ip;
  expect_golden(host_of(ip_out),
                test::golden_tensor(g, variant + ".noise_pred_scale_" + scale.dump()),
                host_unet.forward(host_in));
}

TEST_P(DeviceGolden, UNetSdxlWithTextTimeConditioning) {
  const TensorFile& g = test::load_golden("sdxl");
  UNetInputs in;
  in.sample = test::golden_tensor(g, "unet.latents");
  in.timestep = test::golden_tensor(g, "unet.timestep");
  in.text = test::golden_tensor(g, "unet.text_embeds");
  in.text_embeds = test::golden_tensor(g, "unet.added_cond.text_embeds");
  in.time_ids = test::golden_tensor(g, "unet.added_cond.time_ids");
  const ModelFolder f = folder("sdxl/unet");
  const Tensor out = load_unet(f).forward(to_device(in, dev()));
  expect_golden(host_of(out), test::golden_tensor(g, "unet.noise_pred_no_ip"),
                emulated() ? UNet2DConditionModel::load_dir(f.dir).forward(in) : Tensor());
}

TEST_P(DeviceGolden, VaeEncodeAndDecode) {
  const TensorFile& g = test::load_golden("vae");
  const ModelFolder f = folder("vae/vae");
  const vae::AutoencoderKL model(vae::VaeConfig::from_json(f.config, f.config_path),
                                 f.weights.scope(""));
  const vae::AutoencoderKL host_model = vae::AutoencoderKL::load(f.dir);
  const Tensor image = test::golden_tensor(g, "image");
  const vae::LatentDistribution d = model.encode(image.to(dev()));
  const vae::LatentDistribution hd = host_model.encode(image);
  expect_golden(host_of(d.mean), test::golden_tensor(g, "latent_mean"), hd.mean);
  expect_golden(host_of(d.std), test::golden_tensor(g, "latent_std"), hd.std);
  const Tensor z = test::golden_tensor(g, "decode_input");
  expect_golden(host_of(model.decode(z.to(dev()))), test::golden_tensor(g, "decoded"),
                host_model.decode(z));
}

// A pipeline case (its generate_kwargs and fixed initial latents) through the engine on the
// device, with the case's .bin adapter: final latents and pixels against the golden, and on
// the emulated device against the same engine on the host, bit for bit.
void check_pipeline(Device dev, const std::string& name, const std::string& base,
                    const std::string& adapter) {
  const auto c = test::load_case(name);
  const TensorFile& g = test::load_golden(name);
  const auto& kw = c["generate_kwargs"];
  EngineOptions eo;
  eo.base = test::golden_path(base);
  eo.ip_adapters = {{test::golden_path(adapter), ""}};
  eo.compute.device = dev.name();
  GenerateRequest r;
  r.prompt = kw["prompt"];
  r.negative_prompt = kw["negative_prompt"];
  r.image_prompts = {
      {{image::read_image(test::golden_path(name + "/reference.png"))}, kw["scale"].get<float>()}};
  r.steps = kw["num_inference_steps"].get<int>();
  r.cfg = kw["guidance_scale"].get<float>();
  r.width = kw["width"].get<int>();
  r.height = kw["height"].get<int>();
  r.init_latents = test::float_array(test::golden_tensor(g, "init_latents"));
  const auto engine = Engine::load(eo);
  EXPECT_EQ(engine->info().compute.device, dev.name());
  const GenerateResult res = engine->generate(r);
  EXPECT_TRUE(test::AllCloseRel(test::tensor(res.final_latents),
                                test::golden_tensor(g, "final_latents"),
                                test::golden_tolerance(dev, kPipelineTol)));
  ASSERT_EQ(res.images.size(), 1u);
  const std::vector<float> e = test::golden_tensor(g, "image_u8").to_floats();
  ASSERT_EQ(res.images[0].rgb.size(), e.size());
  EXPECT_LE(test::max_pixel_diff(res.images[0].rgb, e), kPixelTol);
  if (dev.type == DeviceType::Emulated) {
    eo.compute.device = "cpu";
    const GenerateResult host = Engine::load(eo)->generate(r);
    EXPECT_EQ(res.final_latents.data, host.final_latents.data) << "differs from the host run";
    ASSERT_EQ(res.images[0].rgb.size(), host.images[0].rgb.size());
    EXPECT_EQ(res.images[0].rgb, host.images[0].rgb);
  }
}

TEST_P(DeviceGolden, PipelineSd15) {
  check_pipeline(dev(), "pipeline_sd15", "pipeline_sd15/sd15",
                 "pipeline_sd15/IP-Adapter/models/ip-adapter_sd15.bin");
}

TEST_P(DeviceGolden, PipelineSdxl) {
  check_pipeline(dev(), "pipeline_sdxl", "pipeline_sdxl/sdxl",
                 "pipeline_sdxl/IP-Adapter/sdxl_models/ip-adapter_sdxl.bin");
}

// The controlnet_sd15 case (IP-Adapter + ControlNet, as test_controlnet_pipeline.cpp runs it
// through the CLI) through the engine on the device: final latents and pixels against the
// golden, and bit for bit against the host run on the emulated device.
TEST_P(DeviceGolden, ControlNetPipelineSd15) {
  const std::string name = "controlnet_sd15";
  const nlohmann::json c = test::load_case(name);
  const TensorFile& g = test::load_golden(name);
  const auto& call = c["call"];
  auto path = [&](const std::string& rel) { return test::golden_path(name + "/" + rel); };
  const Tensor control = test::golden_tensor(g, "control_image");
  EngineOptions eo;
  eo.base = test::golden_path("pipeline_sd15/sd15");
  eo.ip_adapters = {{path(c["folders"]["IP-Adapter/models"][0].get<std::string>()), ""}};
  eo.controlnets = {{path("controlnet"), ""}};
  eo.compute.device = dev().name();
  GenerateRequest r;
  r.prompt = call["prompt"];
  r.negative_prompt = call["negative_prompt"];
  r.image_prompts = {{{image::read_image(path(call["ip_adapter_image"].get<std::string>()))},
                      call["set_ip_adapter_scale"].get<float>()}};
  r.steps = call["num_inference_steps"].get<int>();
  r.cfg = call["guidance_scale"].get<float>();
  r.width = static_cast<int>(control.size(3));
  r.height = static_cast<int>(control.size(2));
  r.init_latents = test::float_array(test::golden_tensor(g, "init_latents"));
  ControlImage ci;
  ci.image = image::read_image(path(call["image"].get<std::string>()));
  ci.scale = call["controlnet_conditioning_scale"].get<float>();
  ci.start = call["control_guidance_start"].get<float>();
  ci.end = call["control_guidance_end"].get<float>();
  r.controls = {ci};
  r.guess_mode = call["guess_mode"].get<bool>();
  const GenerateResult res = Engine::load(eo)->generate(r);
  EXPECT_TRUE(test::AllCloseRel(test::tensor(res.final_latents),
                                test::golden_tensor(g, "final_latents"),
                                test::golden_tolerance(dev(), kPipelineTol)));
  if (emulated()) {
    eo.compute.device = "cpu";
    const GenerateResult host = Engine::load(eo)->generate(r);
    EXPECT_EQ(res.final_latents.data, host.final_latents.data) << "differs from the host run";
    EXPECT_EQ(res.images.at(0).rgb, host.images.at(0).rgb);
  }
}

// `ipadapter embed`'s ImageEmbedder on the device: a variant of each projection class (the adapter
// and its encoder on the device, tokens and features back) equals the host's: bit for bit on the
// emulated device, within the module tolerance elsewhere (the host run is checked against the
// goldens by test_cli_embed.cpp).
TEST_P(DeviceGolden, EmbedderEveryVariant) {
  const nlohmann::json c = test::load_case("embed_variants");
  const std::vector<image::Image> images = {image::read_image(
      test::golden_path("embed_variants/" + c.at("images")[0].at("file").get<std::string>()))};
  std::set<std::string> classes;  // one variant per projection class keeps the test short
  for (const auto& [variant, v] : c.at("variants").items()) {
    if (!classes.insert(v.at("image_proj_class").dump()).second) continue;
    SCOPED_TRACE(variant);
    EmbedderOptions o;
    o.ip_adapter =
        test::golden_path("embed_variants/" + v.at("checkpoint_files")[0].get<std::string>());
    o.image_encoder =
        test::golden_path("embed_variants/" + v.at("image_encoder").get<std::string>());
    o.compute.device = dev().name();
    const ImagePromptEmbeddings got = ImageEmbedder::load(o)->embed(images, ImagePrep::Crop);
    o.compute.device = "cpu";
    const ImagePromptEmbeddings want = ImageEmbedder::load(o)->embed(images, ImagePrep::Crop);
    if (emulated()) {
      EXPECT_EQ(got.cond.data, want.cond.data);
      EXPECT_EQ(got.uncond.data, want.uncond.data);
      EXPECT_EQ(got.clip_feature.data, want.clip_feature.data);
    } else {
      EXPECT_TRUE(test::AllCloseRel(test::tensor(got.cond), test::tensor(want.cond),
                                    test::golden_tolerance(dev(), kModuleTol)));
    }
  }
  EXPECT_GT(classes.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Devices, DeviceGolden, ::testing::ValuesIn(test::golden_test_devices()),
                         device_name);

}  // namespace
}  // namespace ipa
