// LoRA (pipeline/lora.h, weights/lora_file.h): the tests write their own LoRA files with random
// values in both namings (kohya/A1111 and diffusers/PEFT) for the tiny pipeline_sd15 /
// pipeline_sdxl models, merge them through merge_loras into the models' own weight stores, and
// check every targeted weight against a plain reference computed here in double precision:
//   W + weight · alpha / rank · up · down   (alpha = rank when the file has none).
// Then through the engine: weight 0 gives exactly the generation without the LoRA. No golden
// exists for LoRA: these are unit tests (our own expectations).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "formats/safetensors.h"
#include "ipadapter/engine.h"
#include "ipadapter/io.h"
#include "ipadapter/request_json.h"
#include "models/unet/config.h"
#include "pipeline/lora.h"
#include "server/engine_cache.h"
#include "test_support.h"
#include "weights/lora_file.h"
#include "weights/model_folder.h"

namespace fs = std::filesystem;

namespace ipa {
namespace {

// The models of a tiny base: UNet and text encoders, each with its own store, as the engine
// opens them.
struct Models {
  ModelFamily family = ModelFamily::SD15;
  unet::UNetConfig unet_config;
  ModelFolder unet;
  std::vector<ModelFolder> text_encoders;

  explicit Models(const std::string& base, DType layer_dtype = DType::F32) {
    unet_config = unet::load_unet_config(base + "/unet/config.json");
    unet = open_model_folder(base + "/unet", layer_dtype);
    text_encoders.push_back(open_model_folder(base + "/text_encoder", layer_dtype));
    if (fs::exists(base + "/text_encoder_2")) {
      family = ModelFamily::SDXL;
      text_encoders.push_back(open_model_folder(base + "/text_encoder_2", layer_dtype));
    }
  }
  LoraTargets targets() {
    LoraTargets t;
    t.family = family;
    t.unet = &unet.weights;
    t.unet_config = &unet_config;
    for (auto& f : text_encoders) t.text_encoders.push_back(&f.weights);
    return t;
  }
  WeightStore& store(const std::string& model) {
    if (model == "unet") return unet.weights;
    return text_encoders.at(model == "text_encoder_2" ? 1 : 0).weights;
  }
};

std::string sd15_base() {
  return test::golden_path("pipeline_sd15/sd15");
}
std::string sdxl_base() {
  return test::golden_path("pipeline_sdxl/sdxl");
}

// One low-rank layer a test writes: which weight it adapts, its values, its names in the file.
struct TestLayer {
  std::string model;  // "unet", "text_encoder", "text_encoder_2"
  std::string key;    // the store's weight key
  Tensor down, up;
  std::optional<float> alpha;
  std::string stem;  // the file's name of the layer
};

// Every linear and convolution weight of a store (the embedding tables are no LoRA target).
std::vector<std::string> layer_keys(const WeightStore& s) {
  std::vector<std::string> out;
  for (const auto& k : s.keys()) {
    const size_t r = s.shape_of(k).size();
    if ((r == 2 || r == 4) && k.size() > 7 && k.substr(k.size() - 7) == ".weight" &&
        k.find("embeddings.") == std::string::npos) {
      out.push_back(k);
    }
  }
  return out;
}

std::string module_of(const std::string& key) {
  return key.substr(0, key.size() - 7);  // without ".weight"
}
std::string flat(std::string s) {
  for (char& c : s) {
    if (c == '.') c = '_';
  }
  return s;
}

// A random pair for weight shape `w`: down [r, in(, kh, kw)], up [out, r(, 1, 1)]; ranks 1-4
// and alphas vary with the seed, some layers have no alpha.
TestLayer random_layer(const std::string& model, const std::string& key, const Shape& w,
                       uint64_t seed, DType dtype) {
  TestLayer l;
  l.model = model;
  l.key = key;
  const int64_t r = 1 + static_cast<int64_t>(seed % 4);
  Shape down = w, up = {w[0], r};
  down[0] = r;
  if (w.size() == 4) up = {w[0], r, 1, 1};
  l.down = test::random_tensor(down, seed * 2 + 1).to(dtype);
  l.up = test::random_tensor(up, seed * 2 + 2).to(dtype);
  if (seed % 3 != 0) l.alpha = 0.5f + static_cast<float>(seed % 7);
  return l;
}

std::vector<NamedTensor> kohya_tensors(const std::vector<TestLayer>& layers) {
  std::vector<NamedTensor> out;
  for (const auto& l : layers) {
    out.push_back({l.stem + ".lora_down.weight", l.down});
    out.push_back({l.stem + ".lora_up.weight", l.up});
    if (l.alpha) out.push_back({l.stem + ".alpha", Tensor::from_vector({}, {*l.alpha})});
  }
  return out;
}

std::vector<NamedTensor> peft_tensors(const std::vector<TestLayer>& layers) {
  std::vector<NamedTensor> out;
  for (const auto& l : layers) {
    out.push_back({l.stem + ".lora_A.weight", l.down});
    out.push_back({l.stem + ".lora_B.weight", l.up});
    if (l.alpha) out.push_back({l.stem + ".alpha", Tensor::from_vector({}, {*l.alpha})});
  }
  return out;
}

std::string write_lora(const std::string& name, const std::vector<NamedTensor>& tensors) {
  // One folder per file: temp_dir empties the folder of a tag.
  const std::string path = test::temp_dir("lora_" + fs::path(name).stem().string()) + "/" + name;
  write_safetensors(path, tensors);
  return path;
}

// Every linear / convolution layer of every model, named the kohya way (SD1.5: diffusers
// module names flattened; text encoders lora_te_ + HF names flattened).
std::vector<TestLayer> sd15_kohya_layers(Models& m, DType dtype) {
  std::vector<TestLayer> out;
  uint64_t seed = 1;
  for (const auto& k : layer_keys(m.unet.weights)) {
    out.push_back(random_layer("unet", k, m.unet.weights.shape_of(k), seed++, dtype));
    out.back().stem = "lora_unet_" + flat(module_of(k));
  }
  const WeightStore& te = m.text_encoders[0].weights;
  for (const auto& k : layer_keys(te)) {
    out.push_back(random_layer("text_encoder", k, te.shape_of(k), seed++, dtype));
    out.back().stem = "lora_te_" + flat(module_of(k));
  }
  return out;
}

struct Term {
  const TestLayer* layer;
  float weight;
};

// W + Σ weight · alpha / rank · up · down, in double.
Tensor reference(const Tensor& w, const std::vector<Term>& terms) {
  const int64_t out = w.shape()[0], in = w.numel() / out;
  std::vector<double> acc(static_cast<size_t>(w.numel()));
  const Tensor w32 = w.to(DType::F32);
  for (int64_t i = 0; i < w.numel(); ++i) acc[i] = w32.data<float>()[i];
  for (const Term& t : terms) {
    const Tensor d = t.layer->down.to(DType::F32), u = t.layer->up.to(DType::F32);
    const int64_t r = d.shape()[0];
    const double scale = t.weight * t.layer->alpha.value_or(static_cast<float>(r)) / r;
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t i = 0; i < in; ++i) {
        double s = 0;
        for (int64_t k = 0; k < r; ++k)
          s += double(u.data<float>()[o * r + k]) * d.data<float>()[k * in + i];
        acc[o * in + i] += scale * s;
      }
    }
  }
  std::vector<float> f(acc.begin(), acc.end());
  return Tensor::from_vector(w.shape(), f);
}

void expect_merged(Models& m, const std::string& base, const std::vector<TestLayer>& layers,
                   float weight) {
  Models fresh(base);
  for (const auto& l : layers) {
    const Tensor merged = m.store(l.model).get_f32(l.key);
    const Tensor expected = reference(fresh.store(l.model).get_f32(l.key), {{&l, weight}});
    EXPECT_TRUE(test::AllCloseRel(merged, expected, 1e-5)) << l.model << " " << l.key;
    EXPECT_FALSE(test::AllCloseRel(merged, fresh.store(l.model).get_f32(l.key), 1e-6))
        << "not merged: " << l.key;
  }
}

TEST(Lora, KohyaSd15EveryLayerMatchesThePlainReference) {
  Models m(sd15_base());
  const auto layers = sd15_kohya_layers(m, DType::F16);
  ASSERT_GT(layers.size(), 20u);
  const std::string file = write_lora("kohya_sd15.safetensors", kohya_tensors(layers));
  const auto merged = merge_loras({{file, 0.7f}}, m.targets());
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].format, "kohya");
  EXPECT_EQ(merged[0].unet_layers + merged[0].text_encoder_layers, layers.size());
  EXPECT_EQ(m.unet.weights.updated_keys().size(), merged[0].unet_layers);
  expect_merged(m, sd15_base(), layers, 0.7f);
}

TEST(Lora, PeftSd15EveryLayerMatchesThePlainReference) {
  Models m(sd15_base());
  std::vector<TestLayer> layers;
  uint64_t seed = 100;
  for (const auto& k : layer_keys(m.unet.weights)) {
    layers.push_back(random_layer("unet", k, m.unet.weights.shape_of(k), seed++, DType::F32));
    layers.back().stem = "unet." + module_of(k);
  }
  const WeightStore& te = m.text_encoders[0].weights;
  for (const auto& k : layer_keys(te)) {
    layers.push_back(random_layer("text_encoder", k, te.shape_of(k), seed++, DType::F32));
    layers.back().stem = "text_encoder." + module_of(k);
  }
  const std::string file = write_lora("peft_sd15.safetensors", peft_tensors(layers));
  const auto merged = merge_loras({{file, 1.3f}}, m.targets());
  EXPECT_EQ(merged[0].format, "diffusers");
  expect_merged(m, sd15_base(), layers, 1.3f);
}

// The older diffusers files: attention processors (…attn1.processor.to_q_lora.down.weight,
// with or without "unet.") and LoRACompatible layers (…lora.down / lora_linear_layer.down).
TEST(Lora, OldDiffusersNamingsMatchThePlainReference) {
  Models m(sd15_base());
  std::vector<TestLayer> layers;
  std::vector<NamedTensor> tensors;
  uint64_t seed = 300;
  bool with_prefix = false;
  for (const auto& k : layer_keys(m.unet.weights)) {
    const std::string mod = module_of(k);
    size_t at = mod.find(".attn1.");
    if (at == std::string::npos) at = mod.find(".attn2.");
    if (at == std::string::npos) continue;
    const std::string attention = mod.substr(0, at + 6);  // ….attn1
    const std::string proj = mod.substr(at + 7);
    const std::string name = proj == "to_out.0" ? "to_out" : proj;
    layers.push_back(random_layer("unet", k, m.unet.weights.shape_of(k), seed++, DType::F32));
    layers.back().alpha.reset();
    const std::string stem =
        (with_prefix ? "unet." : "") + attention + ".processor." + name + "_lora";
    with_prefix = !with_prefix;
    tensors.push_back({stem + ".down.weight", layers.back().down});
    tensors.push_back({stem + ".up.weight", layers.back().up});
  }
  ASSERT_GT(layers.size(), 4u);
  const WeightStore& te = m.text_encoders[0].weights;
  bool linear_layer = false;
  for (const auto& k : layer_keys(te)) {
    layers.push_back(random_layer("text_encoder", k, te.shape_of(k), seed++, DType::F32));
    layers.back().alpha.reset();
    const std::string stem =
        "text_encoder." + module_of(k) + (linear_layer ? ".lora_linear_layer" : ".lora");
    linear_layer = !linear_layer;
    tensors.push_back({stem + ".down.weight", layers.back().down});
    tensors.push_back({stem + ".up.weight", layers.back().up});
  }
  const std::string file = write_lora("attn_procs.safetensors", tensors);
  merge_loras({{file, 0.5f}}, m.targets());
  expect_merged(m, sd15_base(), layers, 0.5f);
}

// SDXL kohya files name the UNet in the LDM layout; the expected diffusers names are written
// here by hand for the tiny pipeline_sdxl UNet (2 blocks, 1 layer each, the second with
// attention of 2 transformer blocks), independently of weights/ldm_unet_names.
TEST(Lora, KohyaSdxlLdmNamesAndBothTextEncoders) {
  Models m(sdxl_base());
  const std::vector<std::pair<std::string, std::string>> unet_names = {
      {"input_blocks_3_1_transformer_blocks_1_attn2_to_k",
       "down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k.weight"},
      {"input_blocks_3_1_proj_in", "down_blocks.1.attentions.0.proj_in.weight"},
      {"input_blocks_1_0_in_layers_2", "down_blocks.0.resnets.0.conv1.weight"},
      {"input_blocks_2_0_op", "down_blocks.0.downsamplers.0.conv.weight"},
      {"middle_block_1_transformer_blocks_0_ff_net_0_proj",
       "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj.weight"},
      {"middle_block_2_emb_layers_1", "mid_block.resnets.1.time_emb_proj.weight"},
      {"output_blocks_1_1_transformer_blocks_0_attn1_to_out_0",
       "up_blocks.0.attentions.1.transformer_blocks.0.attn1.to_out.0.weight"},
      {"output_blocks_1_2_conv", "up_blocks.0.upsamplers.0.conv.weight"},
      {"output_blocks_2_0_skip_connection", "up_blocks.1.resnets.0.conv_shortcut.weight"},
      {"time_embed_0", "time_embedding.linear_1.weight"},
      {"label_emb_0_2", "add_embedding.linear_2.weight"},
      {"out_2", "conv_out.weight"},
  };
  std::vector<TestLayer> layers;
  uint64_t seed = 500;
  for (const auto& [kohya, key] : unet_names) {
    ASSERT_TRUE(m.unet.weights.has(key)) << key;
    layers.push_back(random_layer("unet", key, m.unet.weights.shape_of(key), seed++, DType::F16));
    layers.back().stem = "lora_unet_" + kohya;
  }
  for (int i = 0; i < 2; ++i) {
    const std::string model = i == 0 ? "text_encoder" : "text_encoder_2";
    const WeightStore& te = m.text_encoders[i].weights;
    for (const auto& k : layer_keys(te)) {
      if (k == "text_projection.weight") continue;  // kohya does not train it
      layers.push_back(random_layer(model, k, te.shape_of(k), seed++, DType::F16));
      layers.back().stem = (i == 0 ? "lora_te1_" : "lora_te2_") + flat(module_of(k));
    }
  }
  const std::string file = write_lora("kohya_sdxl.safetensors", kohya_tensors(layers));
  const auto merged = merge_loras({{file, 0.8f}}, m.targets());
  EXPECT_EQ(merged[0].unet_layers, unet_names.size());
  expect_merged(m, sdxl_base(), layers, 0.8f);
}

// Every UNet layer of SDXL, kohya-style with diffusers names flattened (the loader takes them
// beside the LDM ones), and a second file: text_encoder_2 in PEFT names; the two are merged
// together.
TEST(Lora, SdxlDiffusersFlatNamesAndPeftTextEncoder2) {
  Models m(sdxl_base());
  std::vector<TestLayer> layers;
  uint64_t seed = 700;
  for (const auto& k : layer_keys(m.unet.weights)) {
    layers.push_back(random_layer("unet", k, m.unet.weights.shape_of(k), seed++, DType::F32));
    layers.back().stem = "lora_unet_" + flat(module_of(k));
  }
  const std::string a = write_lora("sdxl_flat.safetensors", kohya_tensors(layers));
  std::vector<TestLayer> te2;
  for (const auto& k : layer_keys(m.text_encoders[1].weights)) {
    te2.push_back(random_layer("text_encoder_2", k, m.text_encoders[1].weights.shape_of(k), seed++,
                               DType::F32));
    te2.back().stem = "text_encoder_2." + module_of(k);
  }
  const std::string b = write_lora("sdxl_te2.safetensors", peft_tensors(te2));
  merge_loras({{a, 1.f}, {b, 0.25f}}, m.targets());
  expect_merged(m, sdxl_base(), layers, 1.f);
  expect_merged(m, sdxl_base(), te2, 0.25f);
}

TEST(Lora, SeveralLorasAreSummed) {
  Models m(sd15_base());
  const auto first = sd15_kohya_layers(m, DType::F32);
  std::vector<TestLayer> second;
  uint64_t seed = 900;
  for (const auto& l : first) {
    second.push_back(
        random_layer(l.model, l.key, m.store(l.model).shape_of(l.key), seed++, DType::BF16));
    second.back().stem = (l.model == "unet" ? "unet." : "text_encoder.") + module_of(l.key);
  }
  const std::string a = write_lora("first.safetensors", kohya_tensors(first));
  const std::string b = write_lora("second.safetensors", peft_tensors(second));
  merge_loras({{a, 0.6f}, {b, -0.4f}}, m.targets());
  Models fresh(sd15_base());
  for (size_t i = 0; i < first.size(); ++i) {
    const TestLayer& l = first[i];
    const Tensor expected =
        reference(fresh.store(l.model).get_f32(l.key), {{&first[i], 0.6f}, {&second[i], -0.4f}});
    EXPECT_TRUE(test::AllCloseRel(m.store(l.model).get_f32(l.key), expected, 1e-5)) << l.key;
  }
}

// SD1.5's proj_in / proj_out are 1×1 convolutions; a LoRA trained on the linear form ([rank,
// in] / [out, rank]) is the same matrix.
TEST(Lora, LinearPairOnAOneByOneConvolution) {
  Models m(sd15_base());
  std::vector<TestLayer> layers;
  uint64_t seed = 1200;
  for (const auto& k : layer_keys(m.unet.weights)) {
    const Shape w = m.unet.weights.shape_of(k);
    if (w.size() != 4 || w[2] != 1 || w[3] != 1) continue;
    layers.push_back(random_layer("unet", k, {w[0], w[1]}, seed++, DType::F32));
    layers.back().stem = "lora_unet_" + flat(module_of(k));
  }
  ASSERT_FALSE(layers.empty());
  ASSERT_EQ(layers[0].down.dim(), 2);
  merge_loras({{write_lora("linear_1x1.safetensors", kohya_tensors(layers)), 0.9f}}, m.targets());
  expect_merged(m, sd15_base(), layers, 0.9f);
}

// Merged in F32, then converted to the BF16 compute format (before the layers pack it).
TEST(Lora, Bf16WeightsAreMergedBeforeConversion) {
  Models m(sd15_base(), DType::BF16);
  const auto layers = sd15_kohya_layers(m, DType::F16);
  merge_loras({{write_lora("bf16.safetensors", kohya_tensors(layers)), 1.f}}, m.targets());
  Models fresh(sd15_base());
  for (const auto& l : layers) {
    const Shape s = m.store(l.model).shape_of(l.key);
    const Tensor merged = m.store(l.model).get_float(l.key, s, DType::BF16);
    ASSERT_EQ(merged.dtype(), DType::BF16);
    const Tensor expected =
        reference(fresh.store(l.model).get_f32(l.key), {{&l, 1.f}}).to(DType::BF16);
    EXPECT_TRUE(test::AllCloseRel(merged.to(DType::F32), expected.to(DType::F32), 1e-2)) << l.key;
  }
}

// ---- refused, before anything is merged ----

TEST(Lora, UnknownLayersAreListedWithTheirCount) {
  Models m(sd15_base());
  auto layers = sd15_kohya_layers(m, DType::F32);
  layers.resize(3);
  for (int i = 0; i < 12; ++i) {
    TestLayer extra = layers[0];
    extra.stem = "lora_unet_no_such_block_" + std::to_string(i) + "_to_q";
    layers.push_back(extra);
  }
  const std::string file = write_lora("unknown.safetensors", kohya_tensors(layers));
  const std::string e = test::error_of([&] { merge_loras({{file, 1.f}}, m.targets()); });
  EXPECT_TRUE(test::contains(e, "12 of 15 LoRA layers match no weight")) << e;
  EXPECT_TRUE(test::contains(e, "lora_unet_no_such_block_0_to_q")) << e;
  EXPECT_TRUE(test::contains(e, "…")) << e;  // only the first few are listed
  EXPECT_TRUE(test::contains(e, file)) << e;
  EXPECT_TRUE(m.unet.weights.updated_keys().empty());
}

TEST(Lora, KeysOfNoLoraNamingAreRefusedByTheReader) {
  const std::string file =
      write_lora("not_lora.safetensors",
                 {{"model.diffusion_model.out.2.weight", test::random_tensor({2, 2}, 1)},
                  {"lora_unet_x.lora_down.weight", test::random_tensor({1, 2}, 2)},
                  {"lora_unet_x.lora_up.weight", test::random_tensor({2, 1}, 3)}});
  const std::string e = test::error_of([&] { read_lora_file(file); });
  EXPECT_TRUE(test::contains(e, "1 key(s) are not LoRA weights")) << e;
  EXPECT_TRUE(test::contains(e, "model.diffusion_model.out.2.weight")) << e;
}

TEST(Lora, OtherAdapterTypesAndBrokenPairsAreRefused) {
  auto error = [](const std::string& name, const std::vector<NamedTensor>& t) {
    const std::string file = write_lora(name, t);
    return test::error_of([&] { read_lora_file(file); });
  };
  const Tensor a = test::random_tensor({2, 4}, 1), b = test::random_tensor({4, 2}, 2);
  std::string e = error("loha.safetensors", {{"lora_unet_x.hada_w1_a", a}});
  EXPECT_TRUE(test::contains(e, "LoHa")) << e;
  e = error("dora.safetensors", {{"lora_unet_x.lora_down.weight", a},
                                 {"lora_unet_x.lora_up.weight", b},
                                 {"lora_unet_x.dora_scale", a}});
  EXPECT_TRUE(test::contains(e, "DoRA")) << e;
  e = error("half.safetensors", {{"unet.mid_block.attentions.0.proj_in.lora_A.weight", a}});
  EXPECT_TRUE(test::contains(e, "has its down weight but not its up weight")) << e;
  e = error("rank.safetensors", {{"lora_unet_x.lora_down.weight", a},
                                 {"lora_unet_x.lora_up.weight", test::random_tensor({4, 3}, 3)}});
  EXPECT_TRUE(test::contains(e, "not a low-rank pair")) << e;
  e = error("alpha.safetensors", {{"lora_unet_x.lora_down.weight", a},
                                  {"lora_unet_x.lora_up.weight", b},
                                  {"lora_unet_x.alpha", a}});
  EXPECT_TRUE(test::contains(e, "alpha must be one number")) << e;
  e = error("empty.safetensors", {});
  EXPECT_TRUE(test::contains(e, "no LoRA layers")) << e;
  e = error("ints.safetensors", {{"lora_unet_x.lora_down.weight", a.to(DType::I64)},
                                 {"lora_unet_x.lora_up.weight", b}});
  EXPECT_TRUE(test::contains(e, "floating-point")) << e;
  // Not a tensor file at all.
  const std::string junk = test::temp_dir("lora") + "/junk.safetensors";
  std::ofstream(junk) << "this is no safetensors file";
  EXPECT_FALSE(test::error_of([&] { read_lora_file(junk); }).empty());
}

TEST(Lora, ShapeMismatchNamesKeyExpectedAndActual) {
  Models m(sd15_base());
  auto layers = sd15_kohya_layers(m, DType::F32);
  // A cross-attention key projection made for a wider text encoder (another family).
  TestLayer* cross = nullptr;
  for (auto& l : layers) {
    if (l.key.find("attn2.to_k.weight") != std::string::npos) cross = &l;
  }
  ASSERT_NE(cross, nullptr);
  const Shape w = m.unet.weights.shape_of(cross->key);
  const int64_t r = cross->down.shape()[0];
  cross->down = test::random_tensor({r, w[1] + 8}, 5);
  const std::string file = write_lora("shape.safetensors", kohya_tensors(layers));
  const std::string e = test::error_of([&] { merge_loras({{file, 1.f}}, m.targets()); });
  EXPECT_TRUE(test::contains(e, cross->key)) << e;
  EXPECT_TRUE(test::contains(e, cross->stem)) << e;
  EXPECT_TRUE(test::contains(e, "expected shape " + shape_str({r, w[1]}))) << e;
  EXPECT_TRUE(test::contains(e, "got " + shape_str({r, w[1] + 8}))) << e;
  EXPECT_TRUE(test::contains(e, "another model family")) << e;
  EXPECT_TRUE(m.unet.weights.updated_keys().empty());
  EXPECT_TRUE(m.text_encoders[0].weights.updated_keys().empty());
}

TEST(Lora, ALoraForTheOtherFamilyIsRefused) {
  // SDXL's te2 layers on SD1.5.
  Models sdxl(sdxl_base());
  std::vector<TestLayer> te2;
  for (const auto& k : layer_keys(sdxl.text_encoders[1].weights)) {
    te2.push_back(random_layer("text_encoder_2", k, sdxl.text_encoders[1].weights.shape_of(k), 3,
                               DType::F32));
    te2.back().stem = "lora_te2_" + flat(module_of(k));
  }
  const std::string xl_file = write_lora("xl.safetensors", kohya_tensors(te2));
  Models sd15(sd15_base());
  std::string e = test::error_of([&] { merge_loras({{xl_file, 1.f}}, sd15.targets()); });
  EXPECT_TRUE(test::contains(e, "a LoRA made for SDXL")) << e;

  // An SD1.5 kohya LoRA (lora_te_, diffusers UNet names) on SDXL.
  const auto sd15_layers = sd15_kohya_layers(sd15, DType::F32);
  const std::string sd_file = write_lora("sd15.safetensors", kohya_tensors(sd15_layers));
  e = test::error_of([&] { merge_loras({{sd_file, 1.f}}, sdxl.targets()); });
  EXPECT_TRUE(test::contains(e, "another family")) << e;
  std::vector<TestLayer> unet_only;
  for (const auto& l : sd15_layers) {
    if (l.model == "unet") unet_only.push_back(l);
  }
  const std::string unet_file = write_lora("sd15_unet.safetensors", kohya_tensors(unet_only));
  e = test::error_of([&] { merge_loras({{unet_file, 1.f}}, sdxl.targets()); });
  EXPECT_TRUE(test::contains(e, "match no weight of this SDXL model") ||
              test::contains(e, "expected shape"))
      << e;
  EXPECT_TRUE(sdxl.unet.weights.updated_keys().empty());
}

// The IP-Adapter's own projections (attn2.processor.to_k_ip) are not the UNet's: a LoRA that
// names them is refused, never merged into the adapter.
TEST(Lora, IpAdapterProjectionsAreNoTarget) {
  Models m(sd15_base());
  std::string attn2;
  for (const auto& k : layer_keys(m.unet.weights)) {
    if (k.find("attn2.to_k.weight") != std::string::npos) attn2 = k.substr(0, k.find(".to_k"));
  }
  ASSERT_FALSE(attn2.empty());
  const Shape w = m.unet.weights.shape_of(attn2 + ".to_k.weight");
  const std::string file = write_lora(
      "ip.safetensors",
      {{"unet." + attn2 + ".processor.to_k_ip.lora_A.weight", test::random_tensor({2, w[1]}, 1)},
       {"unet." + attn2 + ".processor.to_k_ip.lora_B.weight", test::random_tensor({w[0], 2}, 2)}});
  const std::string e = test::error_of([&] { merge_loras({{file, 1.f}}, m.targets()); });
  EXPECT_TRUE(test::contains(e, "match no weight")) << e;
  EXPECT_TRUE(test::contains(e, "to_k_ip")) << e;
}

// ---- through the engine ----

EngineOptions engine_options(const std::string& base, std::vector<LoraOptions> loras) {
  EngineOptions o;
  o.base = base;
  o.loras = std::move(loras);
  o.one_shot = true;
  return o;
}

GenerateRequest small_request() {
  GenerateRequest r;
  r.prompt = "a cat";
  r.steps = 2;
  r.seed = 3;
  return r;
}

TEST(Lora, EngineWeightZeroIsExactlyNoLora) {
  Models m(sd15_base());
  const std::string file =
      write_lora("style.safetensors", kohya_tensors(sd15_kohya_layers(m, DType::F16)));
  const GenerateRequest r = small_request();
  const GenerateResult none = Engine::load(engine_options(sd15_base(), {}))->generate(r);
  auto zero_engine = Engine::load(engine_options(sd15_base(), {{file, 0.f}}));
  const GenerateResult zero = zero_engine->generate(r);
  const GenerateResult one = Engine::load(engine_options(sd15_base(), {{file, 0.3f}}))->generate(r);
  ASSERT_FALSE(none.final_latents.data.empty());
  EXPECT_EQ(zero.final_latents.data, none.final_latents.data);
  EXPECT_EQ(zero.images[0], none.images[0]);
  EXPECT_NE(one.final_latents.data, none.final_latents.data);
  // The PNG's parameters name the LoRA with its weight.
  ASSERT_EQ(zero_engine->info().loras.size(), 1u);
  const std::string p = generation_parameters(zero_engine->info(), r, zero);
  EXPECT_TRUE(test::contains(p, "LoRA: \"style:0\"")) << p;
}

TEST(Lora, EngineSdxlWithKohyaLora) {
  Models m(sdxl_base());
  std::vector<TestLayer> layers;
  uint64_t seed = 1;
  for (const auto& [kohya, key] : std::vector<std::pair<std::string, std::string>>{
           {"input_blocks_3_1_transformer_blocks_0_attn2_to_v",
            "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_v.weight"},
           {"middle_block_1_proj_out", "mid_block.attentions.0.proj_out.weight"}}) {
    layers.push_back(random_layer("unet", key, m.unet.weights.shape_of(key), seed++, DType::F16));
    layers.back().stem = "lora_unet_" + kohya;
  }
  const std::string file = write_lora("xl_style.safetensors", kohya_tensors(layers));
  const GenerateRequest r = small_request();
  const GenerateResult none = Engine::load(engine_options(sdxl_base(), {}))->generate(r);
  const GenerateResult zero = Engine::load(engine_options(sdxl_base(), {{file, 0.f}}))->generate(r);
  const GenerateResult one = Engine::load(engine_options(sdxl_base(), {{file, 1.f}}))->generate(r);
  EXPECT_EQ(zero.final_latents.data, none.final_latents.data);
  EXPECT_NE(one.final_latents.data, none.final_latents.data);
  // The wrong family is refused at load.
  const std::string e = test::error_of([&] {
    Engine::load(engine_options(sd15_base(), {{file, 1.f}}));
  });
  EXPECT_TRUE(test::contains(e, "xl_style.safetensors")) << e;
}

// The CLI, the server and the C API build their engines from a request with
// ParsedRequest::engine_options(); the server's engine cache tells engines apart by every
// option that changes the weights.
TEST(Lora, EngineOptionsFromARequestCarryLorasAndSources) {
  const ParsedRequest p = parse_request_json(
      R"({"prompt": "x", "base": "b", "loras": [{"file": "a.safetensors", "weight": 0.5}],
          "revision": "v2", "variant": "fp16", "precision": "f32"})",
      file_request_sources("/models"));
  const EngineOptions o = p.engine_options();
  ASSERT_EQ(o.loras.size(), 1u);
  EXPECT_EQ(o.loras[0].file, "/models/a.safetensors");
  EXPECT_FLOAT_EQ(o.loras[0].weight, 0.5f);
  EXPECT_EQ(o.revision, "v2");
  EXPECT_EQ(o.variant, "fp16");
  EXPECT_EQ(o.compute.precision, Precision::F32);
  EngineOptions other = o;
  other.loras[0].weight = 0.6f;
  EXPECT_NE(server::engine_key(o), server::engine_key(other));
  other = o;
  other.variant.clear();
  EXPECT_NE(server::engine_key(o), server::engine_key(other));
  other = o;
  other.loras.clear();
  EXPECT_NE(server::engine_key(o), server::engine_key(other));
}

TEST(Lora, RequestJsonCarriesLoras) {
  const ParsedRequest p = parse_request_json(
      R"({"prompt": "x", "loras": [{"file": "a.safetensors", "weight": 0.8},
                                   {"file": "b.safetensors"}]})",
      file_request_sources("/models"));
  ASSERT_EQ(p.loras.size(), 2u);
  EXPECT_EQ(p.loras[0].file, "/models/a.safetensors");
  EXPECT_FLOAT_EQ(p.loras[0].weight, 0.8f);
  EXPECT_FLOAT_EQ(p.loras[1].weight, 1.f);
  auto error = [](const std::string& text) {
    return test::error_of([&] { parse_request_json(text, file_request_sources("")); });
  };
  EXPECT_TRUE(test::contains(error(R"({"loras": [{"weight": 1}]})"), "loras[0].file")) << "";
  EXPECT_TRUE(
      test::contains(error(R"({"loras": [{"file": "a", "weight": "x"}]})"), "loras[0].weight"));
  EXPECT_TRUE(test::contains(error(R"({"loras": [{"file": "a", "scale": 1}]})"), "'scale'"));
  EXPECT_TRUE(test::contains(error(R"({"loras": {"file": "a"}})"), "loras: must be a list"));
}

TEST(Lora, CliFlagTakesFileAndWeight) {
  const std::string dir = test::temp_dir("lora_cli_out");
  std::string out;
  // The weight after the last ':' is split off: the file named is "missing.safetensors".
  const int rc =
      test::run_cli({"generate", "--base", sd15_base(), "--prompt", "x", "--steps", "1", "--lora",
                     dir + "/missing.safetensors:0.5", "--out", dir + "/o.png"},
                    &out);
  EXPECT_NE(rc, 0);
  EXPECT_TRUE(test::contains(out, dir + "/missing.safetensors")) << out;
  EXPECT_FALSE(test::contains(out, "missing.safetensors:0.5")) << out;
  Models m(sd15_base());
  auto layers = sd15_kohya_layers(m, DType::F16);
  const std::string file = write_lora("cli.safetensors", kohya_tensors(layers));
  EXPECT_EQ(
      test::run_cli({"generate", "--base", sd15_base(), "--prompt", "x", "--steps", "1", "--width",
                     "64", "--height", "64", "--lora", file + ":0.8", "--out", dir + "/o.png"},
                    &out),
      0)
      << out;
  EXPECT_TRUE(test::contains(out, "lora: " + file)) << out;
  EXPECT_TRUE(fs::exists(dir + "/o.png"));
}

}  // namespace
}  // namespace ipa
