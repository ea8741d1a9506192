// Single-file checkpoints: family detection and refusal from key names, the state_dict
// wrapper and EMA keys, the VAE and OpenCLIP renames (the fused in-projection split and the
// transposed text projection checked against plain loops), and a file read with a config of
// other sizes. The checkpoints are tiny safetensors files written here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "bench/random_lora.h"
#include "formats/safetensors.h"
#include "ipadapter/engine.h"
#include "ipadapter/request_json.h"
#include "pipeline/base_model.h"
#include "test_support.h"
#include "weights/checkpoint_layout.h"
#include "weights/ldm_part_names.h"

namespace ipa {
namespace {

Tensor small(const Shape& shape, uint64_t seed = 1) {
  return test::random_tensor(shape, seed);
}

// A file holding `keys`, each a small tensor.
std::string write_keys(const std::string& tag, const std::vector<std::string>& keys) {
  std::vector<NamedTensor> tensors;
  for (const auto& k : keys) tensors.push_back({k, small({2, 2})});
  const std::string path = test::temp_dir("single_file_" + tag) + "/" + tag + ".safetensors";
  write_safetensors(path, tensors);
  return path;
}

TEST(SingleFile, DetectsSd15AndSdxlFromTheirKeys) {
  const CheckpointLayout sd15 = detect_checkpoint_layout(
      {"model.diffusion_model.input_blocks.0.0.weight", "first_stage_model.encoder.conv_in.weight",
       "cond_stage_model.transformer.text_model.final_layer_norm.weight"},
      "a.safetensors");
  EXPECT_EQ(sd15.family, ModelFamily::SD15);
  EXPECT_EQ(sd15.vae, "first_stage_model.");
  EXPECT_EQ(sd15.text_encoder, "cond_stage_model.transformer.");
  EXPECT_EQ(sd15.wrapper, "");

  const CheckpointLayout xl = detect_checkpoint_layout(
      {"model.diffusion_model.label_emb.0.0.weight", "first_stage_model.decoder.conv_in.weight",
       "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
       "first_stage_model.encoder.conv_in.weight", "conditioner.embedders.1.model.ln_final.weight"},
      "b.safetensors");
  EXPECT_EQ(xl.family, ModelFamily::SDXL);
  EXPECT_EQ(xl.text_encoder, "conditioner.embedders.0.transformer.");
  EXPECT_EQ(xl.text_encoder_2, "conditioner.embedders.1.model.");
}

TEST(SingleFile, StateDictWrapperAndEmaKeys) {
  const CheckpointLayout l = detect_checkpoint_layout(
      {"state_dict.model.diffusion_model.input_blocks.0.0.weight",
       "state_dict.model_ema.diffusion_modelinput_blocks000weight", "state_dict.model_ema.decay",
       "state_dict.cond_stage_model.transformer.text_model.final_layer_norm.weight"},
      "c.ckpt");
  EXPECT_EQ(l.wrapper, "state_dict.");
  EXPECT_EQ(l.family, ModelFamily::SD15);
  EXPECT_EQ(l.ema_keys, 2u);
  EXPECT_EQ(l.vae, "");  // no first_stage_model.* here
  // Only an EMA copy: refused, saying so.
  const std::string msg = test::error_of([] {
    detect_checkpoint_layout({"model_ema.diffusion_modelinput_blocks000weight"}, "ema.ckpt");
  });
  EXPECT_TRUE(test::contains(msg, "ema.ckpt")) << msg;
  EXPECT_TRUE(test::contains(msg, "only an EMA copy")) << msg;
}

// Other families are refused when the base is opened, naming the file and what it is.
TEST(SingleFile, OtherFamiliesAreRefusedAtLoad) {
  struct Case {
    std::string tag;
    std::vector<std::string> keys;
    std::string recognised;
  };
  const std::vector<Case> cases = {
      {"sd2",
       {"model.diffusion_model.input_blocks.0.0.weight",
        "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight",
        "first_stage_model.encoder.conv_in.weight"},
       "Stable Diffusion 2.x"},
      {"sd3",
       {"model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight",
        "first_stage_model.encoder.conv_in.weight"},
       "Stable Diffusion 3"},
      {"flux", {"double_blocks.0.img_attn.qkv.weight", "img_in.weight"}, "Flux"},
      {"refiner",
       {"model.diffusion_model.input_blocks.0.0.weight",
        "conditioner.embedders.0.model.ln_final.weight"},
       "SDXL refiner"},
      {"other", {"encoder.layer.0.weight", "head.bias"}, "not a Stable Diffusion 1.x / SDXL"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.tag);
    const std::string path = write_keys(c.tag, c.keys);
    const std::string msg = test::error_of([&] { open_base_model(path); });
    EXPECT_TRUE(test::contains(msg, path)) << msg;
    EXPECT_TRUE(test::contains(msg, c.recognised)) << msg;
  }
}

TEST(SingleFile, OpenClipInProjectionSplitsIntoQueryKeyValue) {
  const int64_t d = 5;
  const Tensor fused = small({3 * d, d}, 7);
  const auto out = open_clip_text_tensor("transformer.resblocks.3.attn.in_proj_weight", fused);
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->size(), 3u);
  const char* names[] = {"q_proj", "k_proj", "v_proj"};
  const std::vector<float> all = fused.to_floats();
  for (int part = 0; part < 3; ++part) {
    const NamedTensor& t = (*out)[static_cast<size_t>(part)];
    EXPECT_EQ(t.name,
              std::string("text_model.encoder.layers.3.self_attn.") + names[part] + ".weight");
    ASSERT_EQ(t.tensor.shape(), (Shape{d, d}));
    const std::vector<float> got = t.tensor.to_floats();
    for (int64_t r = 0; r < d; ++r) {
      for (int64_t c = 0; c < d; ++c) {
        EXPECT_EQ(got[static_cast<size_t>(r * d + c)],
                  all[static_cast<size_t>((part * d + r) * d + c)]);
      }
    }
  }
  const Tensor bias = small({3 * d}, 8);
  const auto b = open_clip_text_tensor("transformer.resblocks.0.attn.in_proj_bias", bias);
  ASSERT_TRUE(b.has_value());
  ASSERT_EQ(b->size(), 3u);
  EXPECT_EQ((*b)[2].name, "text_model.encoder.layers.0.self_attn.v_proj.bias");
  EXPECT_EQ((*b)[2].tensor.to_floats()[1], bias.to_floats()[static_cast<size_t>(2 * d + 1)]);
  // A fused projection whose rows do not split in three is refused, naming the key.
  const std::string msg = test::error_of([] {
    open_clip_text_tensor("transformer.resblocks.0.attn.in_proj_weight", small({4, 2}));
  });
  EXPECT_TRUE(test::contains(msg, "in_proj_weight")) << msg;
}

TEST(SingleFile, OpenClipNamesAndTransposedProjection) {
  const Tensor p = small({3, 4}, 9);  // [hidden, projection]
  const auto out = open_clip_text_tensor("text_projection", p);
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].name, "text_projection.weight");
  ASSERT_EQ((*out)[0].tensor.shape(), (Shape{4, 3}));
  const std::vector<float> got = (*out)[0].tensor.contiguous().to_floats();
  const std::vector<float> src = p.to_floats();
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(got[static_cast<size_t>(r * 3 + c)], src[c * 4 + r]);
  }
  const std::vector<std::pair<std::string, std::string>> renames = {
      {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
      {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
      {"ln_final.bias", "text_model.final_layer_norm.bias"},
      {"transformer.resblocks.11.ln_1.weight", "text_model.encoder.layers.11.layer_norm1.weight"},
      {"transformer.resblocks.0.ln_2.bias", "text_model.encoder.layers.0.layer_norm2.bias"},
      {"transformer.resblocks.0.mlp.c_fc.weight", "text_model.encoder.layers.0.mlp.fc1.weight"},
      {"transformer.resblocks.0.mlp.c_proj.bias", "text_model.encoder.layers.0.mlp.fc2.bias"},
      {"transformer.resblocks.0.attn.out_proj.weight",
       "text_model.encoder.layers.0.self_attn.out_proj.weight"},
  };
  for (const auto& [from, to] : renames) {
    const auto r = open_clip_text_tensor(from, small({2}));
    ASSERT_TRUE(r.has_value()) << from;
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].name, to);
  }
  EXPECT_TRUE(open_clip_text_tensor("logit_scale", small({1}))->empty());  // known, unused
  EXPECT_FALSE(open_clip_text_tensor("visual.proj", small({2})).has_value());
}

TEST(SingleFile, VaeAttentionConvolutionsBecomeLinears) {
  const int64_t c = 6;
  const Tensor conv = small({c, c, 1, 1}, 11);
  const auto q = ldm_vae_tensor("encoder.mid.attn_1.q.weight", conv, 4);
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].name, "encoder.mid_block.attentions.0.to_q.weight");
  ASSERT_EQ((*q)[0].tensor.shape(), (Shape{c, c}));
  const std::vector<float> a = conv.to_floats(), b = (*q)[0].tensor.to_floats();
  for (int64_t i = 0; i < c; ++i) {
    for (int64_t j = 0; j < c; ++j) {
      EXPECT_EQ(b[static_cast<size_t>(i * c + j)], a[static_cast<size_t>(i * c + j)]);
    }
  }
  const std::vector<std::pair<std::string, std::string>> renames = {
      {"decoder.mid.attn_1.proj_out.bias", "decoder.mid_block.attentions.0.to_out.0.bias"},
      {"decoder.mid.attn_1.norm.weight", "decoder.mid_block.attentions.0.group_norm.weight"},
      {"encoder.mid.block_2.conv1.weight", "encoder.mid_block.resnets.1.conv1.weight"},
      {"encoder.down.1.block.0.nin_shortcut.weight",
       "encoder.down_blocks.1.resnets.0.conv_shortcut.weight"},
      {"encoder.down.2.downsample.conv.bias", "encoder.down_blocks.2.downsamplers.0.conv.bias"},
      // LDM counts the decoder's levels from the lowest resolution.
      {"decoder.up.3.block.2.norm1.weight", "decoder.up_blocks.0.resnets.2.norm1.weight"},
      {"decoder.up.1.upsample.conv.weight", "decoder.up_blocks.2.upsamplers.0.conv.weight"},
      {"decoder.norm_out.bias", "decoder.conv_norm_out.bias"},
      {"post_quant_conv.weight", "post_quant_conv.weight"},
  };
  for (const auto& [from, to] : renames) {
    const auto r = ldm_vae_tensor(from, small({2}), 4);
    ASSERT_TRUE(r.has_value()) << from;
    EXPECT_EQ((*r)[0].name, to);
  }
  EXPECT_FALSE(ldm_vae_tensor("decoder.up.4.block.0.conv1.weight", small({2}), 4).has_value());
  EXPECT_TRUE(ldm_vae_tensor("loss.logvar", small({2}), 4)->empty());  // known, not read
  EXPECT_FALSE(ldm_vae_tensor("encoder.extra.weight", small({2}), 4).has_value());
}

TEST(SingleFile, ClipTextKeysKeepTransformersNames) {
  EXPECT_EQ(
      (*ldm_clip_text_tensor("text_model.encoder.layers.0.mlp.fc1.weight", small({2})))[0].name,
      "text_model.encoder.layers.0.mlp.fc1.weight");
  // Older files lack the text_model. level.
  EXPECT_EQ((*ldm_clip_text_tensor("embeddings.token_embedding.weight", small({2})))[0].name,
            "text_model.embeddings.token_embedding.weight");
  EXPECT_FALSE(ldm_clip_text_tensor("something.else", small({2})).has_value());
}

// A tensor of an impossible shape (a fused in-projection whose rows do not split in three) is
// refused when its model is opened, naming the file and the key.
TEST(SingleFile, ImpossibleShapeIsRefusedNamingFileAndKey) {
  const std::string key =
      "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight";
  const std::string path = write_keys(
      "bad_in_proj", {"model.diffusion_model.label_emb.0.0.weight",
                      "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
                      "first_stage_model.encoder.conv_in.weight", key});
  const BaseModel base = open_base_model(path);
  EXPECT_EQ(base.family, ModelFamily::SDXL);
  const std::string msg = test::error_of([&] { open_base_text_encoder(base, 1, DType::F32); });
  EXPECT_TRUE(test::contains(msg, path + ": tensor '" + key + "'")) << msg;
  EXPECT_TRUE(test::contains(msg, "3·D rows")) << msg;
}

// A BF16 file (the single_file_sd15 checkpoint with every tensor rounded to bfloat16) holds
// the diffusers folder's tensors rounded the same way.
TEST(SingleFile, Bf16FileHoldsTheRoundedTensors) {
  const nlohmann::json c = test::load_case("single_file_sd15");
  const std::string config = test::golden_path(test::single_file_config(c));
  const std::string file = test::golden_path("single_file_sd15/" + c.at("files").begin().key());
  std::vector<NamedTensor> rounded;
  for (const auto& t : load_tensor_file(file).tensors) {
    rounded.push_back({t.name, t.tensor.to(DType::BF16)});
  }
  const std::string path = test::temp_dir("bf16_single_file") + "/bf16.safetensors";
  write_safetensors(path, rounded);
  const BaseModel single = open_base_model(path, config);
  const ModelFolder got = open_base_unet(single, DType::F32);
  const ModelFolder want = open_base_unet(open_base_model(config), DType::F32);
  EXPECT_EQ(got.weights.keys(), want.weights.keys());
  for (const auto& k : want.weights.keys()) {
    EXPECT_EQ(got.weights.get(k).dtype(), DType::BF16) << k;
    EXPECT_TRUE(got.weights.get_f32(k).to_floats() ==
                want.weights.get_f32(k).to(DType::BF16).to(DType::F32).to_floats())
        << k;
  }
}

// The same model as a folder and as a single file generates the same latents, bit for bit,
// also with a LoRA merged (the LoRA names the folder's weights; the single file's are renamed
// to the same names before the merge).
TEST(SingleFile, SameGenerationAsTheFolderAlsoWithALora) {
  const nlohmann::json c = test::load_case("single_file_sd15");
  const std::string folder = test::golden_path(test::single_file_config(c));
  const std::string file = test::golden_path("single_file_sd15/" + c.at("files").begin().key());
  const std::string lora =
      bench::ensure_random_lora(folder, test::temp_dir("single_file_lora"), 2, 5);
  GenerateRequest r;
  r.prompt = "a cat";
  r.steps = 2;
  r.seed = 3;
  for (const bool with_lora : {false, true}) {
    SCOPED_TRACE(with_lora ? "with a LoRA" : "without");
    EngineOptions a, b;
    a.base = folder;
    b.base = file;
    b.base_config = folder;
    if (with_lora) a.loras = b.loras = {{lora, 0.5f}};
    const GenerateResult x = Engine::load(a)->generate(r);
    const GenerateResult y = Engine::load(b)->generate(r);
    EXPECT_EQ(x.final_latents.shape, y.final_latents.shape);
    EXPECT_TRUE(x.final_latents.data == y.final_latents.data);
  }
}

// The request keys of the options, resolved like every model path of a request (relative to
// the request's folder; see model_sources for repo ids).
TEST(SingleFile, RequestKeysBaseConfigAndVae) {
  const std::string dir = test::temp_dir("single_file_request");
  std::filesystem::create_directories(dir + "/sd15");
  for (const char* f : {"/dreamshaper_8.safetensors", "/vae.safetensors"}) {
    std::ofstream(dir + f) << "x";
  }
  const RequestSources sources = file_request_sources(dir);
  const ParsedRequest r = parse_request_json(
      R"({"base": "dreamshaper_8.safetensors", "base_config": "sd15", "vae": "vae.safetensors"})",
      sources);
  EXPECT_EQ(std::filesystem::path(r.base),
            std::filesystem::path(dir) / "dreamshaper_8.safetensors");
  EXPECT_EQ(std::filesystem::path(r.base_config), std::filesystem::path(dir) / "sd15");
  EXPECT_EQ(std::filesystem::path(r.vae), std::filesystem::path(dir) / "vae.safetensors");
  const std::string msg =
      test::error_of([&] { parse_request_json(R"({"base_config": 3})", sources); });
  EXPECT_TRUE(test::contains(msg, "base_config")) << msg;
}

// --vae must be a VAE: a file without encoder/decoder weights is refused naming it.
TEST(SingleFile, VaeFileThatIsNotAVaeIsRefused) {
  const std::string path = write_keys("not_vae", {"model.diffusion_model.input_blocks.0.0.weight"});
  BaseModel base;
  const std::string msg = test::error_of([&] { use_vae(base, path, ""); });
  EXPECT_TRUE(test::contains(msg, path)) << msg;
  EXPECT_TRUE(test::contains(msg, "--vae: not a VAE")) << msg;
}

}  // namespace
}  // namespace ipa
