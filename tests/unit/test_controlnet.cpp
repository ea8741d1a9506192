// ControlNet loading and inputs: single files (diffusers names, the original LDM layout with
// and without the "control_model." prefix), configs (the real full-size ones included), the
// scaling modes, and the errors a user can run into. Uses the tiny ControlNets of the
// controlnet_sd15 / controlnet_sdxl golden cases; the LDM files are written here from the
// diffusers ones with this file's own renaming rules (not the library's).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <regex>

#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "models/controlnet/controlnet.h"
#include "models/unet/unet.h"
#include "test_support.h"
#include "torch_archive_builder.h"

namespace ipa {
namespace {

using controlnet::ControlNetConfig;
using controlnet::ControlNetInputs;
using controlnet::ControlNetModel;
using controlnet::ControlNetOutput;

struct Fixture {
  std::string name;  // controlnet_sd15 | controlnet_sdxl
  std::string dir = test::golden_path(name + "/controlnet");
  std::string weights = dir + "/diffusion_pytorch_model.safetensors";
  ControlNetConfig config = controlnet::load_controlnet_config(dir);
  const TensorFile& g = test::load_golden(name);

  // Step 0 of the case as the pipeline ran it.
  ControlNetInputs inputs() const {
    ControlNetInputs in;
    in.sample = test::golden_tensor(g, "step_unet_input").select(0, 0).contiguous();
    in.timestep = test::golden_tensor(g, "timesteps").select(0, 0).contiguous();
    if (config.unet.text_time) {
      in.text = test::golden_tensor(g, "encoder_hidden_states");
      in.text_embeds = test::golden_tensor(g, "add_text_embeds");
      in.time_ids = test::golden_tensor(g, "add_time_ids");
    } else {
      in.text = ops::concat({test::golden_tensor(g, "negative_prompt_embeds"),
                             test::golden_tensor(g, "prompt_embeds")},
                            0);
    }
    in.image = test::golden_tensor(g, "control_image");
    in.conditioning_scale = 0.7f;
    return in;
  }
};

float max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto x = a.to_floats(), y = b.to_floats();
  float m = 0.f;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  return m;
}

void expect_same(const ControlNetOutput& a, const ControlNetOutput& b) {
  ASSERT_EQ(a.down_residuals.size(), b.down_residuals.size());
  for (size_t k = 0; k < a.down_residuals.size(); ++k) {
    EXPECT_EQ(max_abs_diff(a.down_residuals[k], b.down_residuals[k]), 0.f) << "residual " << k;
  }
  EXPECT_EQ(max_abs_diff(a.mid_residual, b.mid_residual), 0.f);
}

// ---- the original layout, written by the test -----------------------------------------

// diffusers name → LDM name for a ControlNet with `layers` resnets per down block and
// `hint_blocks` conditioning-embedding blocks (the lllyasviel / cldm numbering).
std::string resnet_to_ldm(const std::string& rest) {
  static const std::pair<const char*, const char*> renames[] = {
      {"norm1.", "in_layers.0."},          {"conv1.", "in_layers.2."},
      {"time_emb_proj.", "emb_layers.1."}, {"norm2.", "out_layers.0."},
      {"conv2.", "out_layers.3."},         {"conv_shortcut.", "skip_connection."},
  };
  for (const auto& [from, to] : renames) {
    if (rest.starts_with(from)) return to + rest.substr(std::string(from).size());
  }
  ADD_FAILURE() << "unknown resnet weight " << rest;
  return rest;
}

std::string to_ldm(const std::string& key, int layers, int hint_blocks) {
  using Match = std::smatch;
  auto n = [](const Match& m, int i) { return std::stoi(m[i].str()); };
  auto in_block = [&](const Match& m) { return 1 + n(m, 1) * (layers + 1) + n(m, 2); };
  struct Rule {
    std::regex re;
    std::function<std::string(const Match&)> to;
  };
  // Built once per call of the test's writer (std::regex construction is slow).
  const std::vector<Rule> rules = {
      {std::regex("time_embedding\\.linear_([12])\\.(.*)"),
       [&](const Match& m) {
         return (n(m, 1) == 1 ? "time_embed.0." : "time_embed.2.") + m[2].str();
       }},
      {std::regex("add_embedding\\.linear_([12])\\.(.*)"),
       [&](const Match& m) {
         return (n(m, 1) == 1 ? "label_emb.0.0." : "label_emb.0.2.") + m[2].str();
       }},
      {std::regex("conv_in\\.(.*)"),
       [](const Match& m) { return "input_blocks.0.0." + m[1].str(); }},
      {std::regex("down_blocks\\.(\\d+)\\.resnets\\.(\\d+)\\.(.*)"),
       [&](const Match& m) {
         return "input_blocks." + std::to_string(in_block(m)) + ".0." + resnet_to_ldm(m[3]);
       }},
      {std::regex("down_blocks\\.(\\d+)\\.attentions\\.(\\d+)\\.(.*)"),
       [&](const Match& m) {
         return "input_blocks." + std::to_string(in_block(m)) + ".1." + m[3].str();
       }},
      {std::regex("down_blocks\\.(\\d+)\\.downsamplers\\.0\\.conv\\.(.*)"),
       [&](const Match& m) {
         return "input_blocks." + std::to_string((n(m, 1) + 1) * (layers + 1)) + ".0.op." +
                m[2].str();
       }},
      {std::regex("mid_block\\.resnets\\.(\\d+)\\.(.*)"),
       [&](const Match& m) {
         return "middle_block." + std::to_string(2 * n(m, 1)) + "." + resnet_to_ldm(m[2]);
       }},
      {std::regex("mid_block\\.attentions\\.0\\.(.*)"),
       [](const Match& m) { return "middle_block.1." + m[1].str(); }},
      {std::regex("controlnet_down_blocks\\.(\\d+)\\.(.*)"),
       [](const Match& m) { return "zero_convs." + m[1].str() + ".0." + m[2].str(); }},
      {std::regex("controlnet_mid_block\\.(.*)"),
       [](const Match& m) { return "middle_block_out.0." + m[1].str(); }},
      {std::regex("controlnet_cond_embedding\\.conv_in\\.(.*)"),
       [](const Match& m) { return "input_hint_block.0." + m[1].str(); }},
      {std::regex("controlnet_cond_embedding\\.blocks\\.(\\d+)\\.(.*)"),
       [&](const Match& m) {
         return "input_hint_block." + std::to_string(2 * n(m, 1) + 2) + "." + m[2].str();
       }},
      {std::regex("controlnet_cond_embedding\\.conv_out\\.(.*)"),
       [&](const Match& m) {
         return "input_hint_block." + std::to_string(2 * hint_blocks + 2) + "." + m[1].str();
       }},
  };
  Match m;
  for (const auto& rule : rules) {
    if (std::regex_match(key, m, rule.re)) return rule.to(m);
  }
  ADD_FAILURE() << "no LDM name for " << key;
  return key;
}

// All keys of a diffusers-named file in the LDM layout.
std::map<std::string, std::string> ldm_names(const TensorFile& file, int layers) {
  int hint_blocks = 0;
  for (const auto& t : file.tensors) {
    if (t.name.starts_with("controlnet_cond_embedding.blocks.") && t.name.ends_with(".weight")) {
      ++hint_blocks;
    }
  }
  std::map<std::string, std::string> out;
  for (const auto& t : file.tensors) out[t.name] = to_ldm(t.name, layers, hint_blocks);
  return out;
}

// The fixture's weights renamed to the LDM layout under `prefix`, plus `extra` tensors, minus
// the LDM key `drop`.
std::string write_ldm(const Fixture& f, const std::string& prefix, const std::string& tag,
                      const std::vector<NamedTensor>& extra = {}, const std::string& drop = "") {
  const TensorFile file = load_tensor_file(f.weights);
  const auto names = ldm_names(file, f.config.unet.down_blocks.at(0).num_layers);
  std::vector<NamedTensor> out;
  for (const auto& t : file.tensors) {
    const std::string& ldm = names.at(t.name);
    if (ldm != drop) out.push_back({prefix + ldm, t.tensor});
  }
  for (const auto& e : extra) out.push_back(e);
  const std::string path = test::temp_dir("controlnet_ldm") + "/" + tag + ".safetensors";
  write_safetensors(path, out);
  return path;
}

TEST(ControlNetFiles, LdmLayoutLoadsToTheSameModel) {
  for (const std::string name : {"controlnet_sd15", "controlnet_sdxl"}) {
    SCOPED_TRACE(name);
    const Fixture f{name};
    const ControlNetOutput reference = ControlNetModel::load_dir(f.dir).forward(f.inputs());
    const std::string plain = write_ldm(f, "", name + "_plain");
    expect_same(ControlNetModel::load_file(plain, f.config).forward(f.inputs()), reference);
    // A whole cldm checkpoint: the ControlNet under control_model., other models beside it.
    const Tensor other = test::random_tensor({2, 2}, 1);
    const std::string full = write_ldm(f, "control_model.", name + "_full",
                                       {{"model.diffusion_model.input_blocks.0.0.weight", other},
                                        {"first_stage_model.decoder.conv_in.bias", other}});
    expect_same(ControlNetModel::load_file(full, f.config).forward(f.inputs()), reference);
  }
}

// torch.save({"state_dict": {"control_model.<key>": tensor}}) (.pth / .ckpt): the wrapper is
// unwrapped as diffusers does.
TEST(ControlNetFiles, PytorchCheckpointWithStateDictWrapper) {
  const Fixture f{"controlnet_sd15"};
  const TensorFile ldm = load_tensor_file(write_ldm(f, "control_model.", "for_pth"));
  test::PickleWriter p;
  p.proto(2).empty_dict().str("state_dict").empty_dict().mark();
  std::vector<std::pair<std::string, test::Bytes>> storages;
  for (const auto& t : ldm.tensors) {
    const std::string key = std::to_string(storages.size());
    p.str(t.name).tensor("FloatStorage", key, t.tensor.numel(), 0, t.tensor.shape(),
                         contiguous_strides(t.tensor.shape()));
    storages.push_back({key, test::floats_bytes(t.tensor.to_floats())});
  }
  p.setitems().setitem().stop();
  const std::string path = test::temp_dir("controlnet_pth") + "/control_sd15.pth";
  test::write_zip(path, test::torch_items("control_sd15", p.bytes(), storages));
  const ControlNetOutput reference = ControlNetModel::load_dir(f.dir).forward(f.inputs());
  expect_same(ControlNetModel::load_file(path, f.config).forward(f.inputs()), reference);
}

TEST(ControlNetFiles, DiffusersNamedSingleFileNeedsOnlyAConfig) {
  const Fixture f{"controlnet_sd15"};
  const ControlNetOutput reference = ControlNetModel::load_dir(f.dir).forward(f.inputs());
  expect_same(ControlNetModel::load_file(f.weights, f.config).forward(f.inputs()), reference);
  // The config from its file, or from the folder.
  const auto from_file = controlnet::load_controlnet_config(f.dir + "/config.json");
  EXPECT_EQ(from_file.conditioning_embedding_out_channels,
            f.config.conditioning_embedding_out_channels);
}

TEST(ControlNetFiles, MissingExtraAndMisshapenWeightsNameFileAndKey) {
  const Fixture f{"controlnet_sd15"};
  // Missing in the LDM layout: the file, the diffusers name and the file's own name.
  const std::string drop = "zero_convs.1.0.weight";
  const std::string missing_path = write_ldm(f, "control_model.", "missing", {}, drop);
  const std::string missing =
      test::error_of([&] { ControlNetModel::load_file(missing_path, f.config); });
  EXPECT_TRUE(test::contains(missing, missing_path)) << missing;
  EXPECT_TRUE(test::contains(missing, "missing weight")) << missing;
  EXPECT_TRUE(test::contains(missing, "controlnet_down_blocks.1.weight")) << missing;
  EXPECT_TRUE(test::contains(missing, "control_model." + drop)) << missing;

  // A layer the config does not have.
  const Tensor t = test::random_tensor({4}, 2);
  const std::string extra_key = "control_model.input_blocks.99.0.in_layers.0.bias";
  const std::string extra_path = write_ldm(f, "control_model.", "extra", {{extra_key, t}});
  const std::string extra =
      test::error_of([&] { ControlNetModel::load_file(extra_path, f.config); });
  EXPECT_TRUE(test::contains(extra, extra_path) && test::contains(extra, extra_key)) << extra;
  EXPECT_TRUE(test::contains(extra, "not part of a ControlNet")) << extra;

  // diffusers names: an extra key, and a wrong shape (file, key, expected and actual shape).
  TensorFile file = load_tensor_file(f.weights);
  std::vector<NamedTensor> tensors = file.tensors;
  tensors.push_back({"controlnet_down_blocks.99.weight", t});
  const std::string dir = test::temp_dir("controlnet_bad");
  write_safetensors(dir + "/extra.safetensors", tensors);
  const std::string leftover =
      test::error_of([&] { ControlNetModel::load_file(dir + "/extra.safetensors", f.config); });
  EXPECT_TRUE(test::contains(leftover, "controlnet_down_blocks.99.weight")) << leftover;
  EXPECT_TRUE(test::contains(leftover, "not used by the ControlNet config")) << leftover;

  tensors = file.tensors;
  Shape expected;
  for (auto& nt : tensors) {
    if (nt.name == "controlnet_mid_block.weight") {
      expected = nt.tensor.shape();
      Shape wrong = expected;
      wrong[1] += 1;
      nt.tensor = test::random_tensor(wrong, 3);
    }
  }
  ASSERT_FALSE(expected.empty());
  write_safetensors(dir + "/shape.safetensors", tensors);
  const std::string shape =
      test::error_of([&] { ControlNetModel::load_file(dir + "/shape.safetensors", f.config); });
  Shape wrong = expected;
  wrong[1] += 1;
  EXPECT_TRUE(test::contains(shape, dir + "/shape.safetensors")) << shape;
  EXPECT_TRUE(test::contains(shape, "controlnet_mid_block.weight")) << shape;
  EXPECT_TRUE(
      test::contains(shape, "expected shape " + shape_str(expected) + ", got " + shape_str(wrong)))
      << shape;

  // Not a ControlNet at all.
  const std::string adapter =
      test::golden_path("controlnet_sd15/IP-Adapter/models/ip-adapter_sd15.safetensors");
  EXPECT_TRUE(test::contains(test::error_of([&] { ControlNetModel::load_file(adapter, f.config); }),
                             "not a ControlNet checkpoint"));
}

// ---- configs ----------------------------------------------------------------------------

nlohmann::json config_json(const std::string& name) {
  return read_json_file(test::golden_path(name + "/controlnet/config.json"));
}

TEST(ControlNetConfig, UnsupportedOptionsNameTheKey) {
  auto j = config_json("controlnet_sd15");
  j["controlnet_conditioning_channel_order"] = "bgr";
  const std::string order =
      test::error_of([&] { controlnet::parse_controlnet_config(j, "cn.json"); });
  EXPECT_TRUE(test::contains(order, "cn.json") &&
              test::contains(order, "controlnet_conditioning_channel_order") &&
              test::contains(order, "bgr"))
      << order;
  j = config_json("controlnet_sd15");
  j["_class_name"] = "UNet2DConditionModel";
  EXPECT_TRUE(test::contains(test::error_of([&] { controlnet::parse_controlnet_config(j, "x"); }),
                             "_class_name"));
  j = config_json("controlnet_sd15");
  j["conditioning_embedding_out_channels"] = nlohmann::json::array();
  EXPECT_TRUE(test::contains(test::error_of([&] { controlnet::parse_controlnet_config(j, "x"); }),
                             "conditioning_embedding_out_channels"));
  j = config_json("controlnet_sd15");
  j["resnet_time_scale_shift"] = "scale_shift";
  EXPECT_TRUE(test::contains(test::error_of([&] { controlnet::parse_controlnet_config(j, "x"); }),
                             "resnet_time_scale_shift"));
  j = config_json("controlnet_sd15");
  j["mid_block_type"] = nullptr;
  EXPECT_TRUE(test::contains(test::error_of([&] { controlnet::parse_controlnet_config(j, "x"); }),
                             "mid_block_type"));
  // Keys ControlNetModel does not take are ignored, as diffusers does.
  j = config_json("controlnet_sd15");
  j["conv_in_kernel"] = 5;
  j["sample_size"] = 64;
  EXPECT_NO_THROW(controlnet::parse_controlnet_config(j, "x"));
}

ControlNetConfig repo_config(const std::string& name) {
  return controlnet::load_controlnet_config(std::string(IPA_SOURCE_DIR) + "/configs/" + name);
}
unet::UNetConfig repo_unet(const std::string& family) {
  return unet::load_unet_config(std::string(IPA_SOURCE_DIR) + "/configs/" + family +
                                "/unet/config.json");
}

TEST(ControlNetConfig, RealFullSizeConfigsParseAndFitTheirUNets) {
  const ControlNetConfig sd15 = repo_config("controlnet_sd15");
  const ControlNetConfig sdxl = repo_config("controlnet_sdxl");
  EXPECT_EQ(sd15.image_scale(), 8);
  EXPECT_EQ(sdxl.image_scale(), 8);
  EXPECT_EQ(controlnet::skip_channels(sd15.unet).size(), 12u);
  EXPECT_EQ(controlnet::skip_channels(sdxl.unet).size(), 9u);
  EXPECT_EQ(sd15.unet.cross_attention_dim, 768);
  EXPECT_FALSE(sd15.unet.text_time);
  EXPECT_EQ(sdxl.unet.cross_attention_dim, 2048);
  EXPECT_TRUE(sdxl.unet.text_time);
  EXPECT_EQ(sdxl.unet.projection_class_embeddings_input_dim, 2816);
  EXPECT_EQ(sdxl.unet.mid.transformer_layers, std::vector<int>{10});
  EXPECT_TRUE(sd15.unet.up_blocks.empty());
  EXPECT_NO_THROW(controlnet::check_compatible(sd15, repo_unet("sd15")));
  EXPECT_NO_THROW(controlnet::check_compatible(sdxl, repo_unet("sdxl")));
  const std::string a =
      test::error_of([&] { controlnet::check_compatible(sd15, repo_unet("sdxl")); });
  EXPECT_TRUE(test::contains(a, "another model family")) << a;
  const std::string b =
      test::error_of([&] { controlnet::check_compatible(sdxl, repo_unet("sd15")); });
  EXPECT_TRUE(test::contains(b, "another model family") && test::contains(b, "SDXL")) << b;
}

// ---- other family, other channels, inputs -----------------------------------------------

TEST(ControlNetErrors, OtherFamilyAndOtherChannels) {
  const Fixture sd15{"controlnet_sd15"}, sdxl{"controlnet_sdxl"};
  const auto unet15 =
      unet::load_unet_config(test::golden_path("pipeline_sd15/sd15/unet/config.json"));
  const auto unetxl =
      unet::load_unet_config(test::golden_path("pipeline_sdxl/sdxl/unet/config.json"));
  EXPECT_NO_THROW(controlnet::check_compatible(sd15.config, unet15));
  EXPECT_NO_THROW(controlnet::check_compatible(sdxl.config, unetxl));
  EXPECT_TRUE(
      test::contains(test::error_of([&] { controlnet::check_compatible(sdxl.config, unet15); }),
                     "another model family"));
  EXPECT_TRUE(
      test::contains(test::error_of([&] { controlnet::check_compatible(sd15.config, unetxl); }),
                     "another model family"));

  // Another in_channels: refused against the UNet, and by the weights' shapes.
  auto j = config_json("controlnet_sd15");
  j["in_channels"] = 9;
  const ControlNetConfig nine = controlnet::parse_controlnet_config(j, "nine.json");
  const std::string channels = test::error_of([&] { controlnet::check_compatible(nine, unet15); });
  EXPECT_TRUE(test::contains(channels, "9 latent channels")) << channels;
  const std::string conv_in =
      test::error_of([&] { ControlNetModel::load_file(sd15.weights, nine); });
  EXPECT_TRUE(test::contains(conv_in, "conv_in.weight") &&
              test::contains(conv_in, "expected shape"))
      << conv_in;

  // The SDXL ControlNet fed SD1.5 inputs: no time ids, text of another width.
  const auto xl = ControlNetModel::load_dir(sdxl.dir);
  ControlNetInputs in = sdxl.inputs();
  in.time_ids = {};
  EXPECT_TRUE(test::contains(test::error_of([&] { xl.forward(in); }), "time_ids"));
  in = sdxl.inputs();
  in.text = sd15.inputs().text;
  const std::string width = test::error_of([&] { xl.forward(in); });
  EXPECT_TRUE(test::contains(width, "encoder_hidden_states")) << width;
}

TEST(ControlNetErrors, ControlImageMustMatchTheLatents) {
  const Fixture f{"controlnet_sd15"};
  const auto cn = ControlNetModel::load_dir(f.dir);
  ControlNetInputs in = f.inputs();
  const Tensor img = in.image;
  in.image = img.narrow(2, 0, img.size(2) / 2).contiguous();
  const std::string size = test::error_of([&] { cn.forward(in); });
  EXPECT_TRUE(test::contains(size, std::to_string(f.config.image_scale()) + "× the latent size"))
      << size;
  in.image = img.narrow(1, 0, 1).contiguous();
  EXPECT_TRUE(test::contains(test::error_of([&] { cn.forward(in); }), "control image"));
  // One image for the whole batch is broadcast.
  in.image = img.narrow(0, 0, 1).contiguous();
  const ControlNetOutput one = cn.forward(in);
  in.image = ops::concat({in.image, in.image}, 0);
  ASSERT_EQ(in.image.size(0), f.inputs().sample.size(0));
  expect_same(one, cn.forward(in));
}

// ---- scaling modes ----------------------------------------------------------------------

TEST(ControlNetScaling, ScaleGuessModeAndGlobalPooling) {
  const Fixture f{"controlnet_sdxl"};
  const auto cn = ControlNetModel::load_dir(f.dir);
  ControlNetInputs in = f.inputs();
  in.conditioning_scale = 1.f;
  const ControlNetOutput unit = cn.forward(in);
  in.conditioning_scale = 0.5f;
  const ControlNetOutput half = cn.forward(in);
  in.guess_mode = true;
  const ControlNetOutput guess = cn.forward(in);
  const size_t K = unit.down_residuals.size();
  for (size_t k = 0; k < K; ++k) {
    const Tensor u = unit.down_residuals[k];
    EXPECT_TRUE(test::AllCloseRel(half.down_residuals[k], ops::scale(u, 0.5f), 1e-6));
    // diffusers: logspace(-1, 0, K + 1)[k] · scale, from 0.1 to 1.
    const float w = std::pow(10.f, -1.f + static_cast<float>(k) / static_cast<float>(K));
    EXPECT_TRUE(test::AllCloseRel(guess.down_residuals[k], ops::scale(u, 0.5f * w), 1e-6)) << k;
  }
  EXPECT_TRUE(test::AllCloseRel(guess.mid_residual, ops::scale(unit.mid_residual, 0.5f), 1e-6));

  // global_pool_conditions: residuals averaged over H, W (and no guess-mode ramp).
  auto j = config_json("controlnet_sdxl");
  j["global_pool_conditions"] = true;
  const auto pooled_cn =
      ControlNetModel::load_file(f.weights, controlnet::parse_controlnet_config(j, "pooled"));
  const ControlNetOutput pooled = pooled_cn.forward(in);
  for (size_t k = 0; k < K; ++k) {
    const Tensor& p = pooled.down_residuals[k];
    const Tensor& h = half.down_residuals[k];
    ASSERT_EQ(p.shape(), (Shape{h.size(0), h.size(1), 1, 1}));
    const auto hv = h.to_floats();
    const int64_t hw = h.size(2) * h.size(3);
    for (int64_t c = 0; c < h.size(0) * h.size(1); ++c) {
      double sum = 0;
      for (int64_t i = 0; i < hw; ++i) sum += hv[static_cast<size_t>(c * hw + i)];
      EXPECT_NEAR(p.to_floats()[static_cast<size_t>(c)], sum / hw, 1e-6);
    }
  }
  // The UNet takes [B, C, 1, 1] residuals (broadcast over H, W, as diffusers adds them).
  const auto unet =
      unet::UNet2DConditionModel::load_dir(test::golden_path("pipeline_sdxl/sdxl/unet"));
  unet::UNetInputs u;
  u.sample = in.sample;
  u.timestep = in.timestep;
  u.text = in.text;
  u.text_embeds = in.text_embeds;
  u.time_ids = in.time_ids;
  const Tensor plain = unet.forward(u);
  controlnet::add_residuals(pooled, &u);
  EXPECT_GT(max_abs_diff(unet.forward(u), plain), 0.f);
}

TEST(ControlNetScaling, SeveralControlNetsSum) {
  const Fixture f{"controlnet_sd15"};
  const auto cn = ControlNetModel::load_dir(f.dir);
  const ControlNetOutput a = cn.forward(f.inputs());
  unet::UNetInputs in;
  controlnet::add_residuals(a, &in);
  controlnet::add_residuals(a, &in);
  ASSERT_EQ(in.down_residuals.size(), a.down_residuals.size());
  for (size_t k = 0; k < a.down_residuals.size(); ++k) {
    EXPECT_TRUE(test::AllCloseRel(in.down_residuals[k], ops::scale(a.down_residuals[k], 2.f), 0));
  }
  EXPECT_TRUE(test::AllCloseRel(in.mid_residual, ops::scale(a.mid_residual, 2.f), 0));
}

}  // namespace
}  // namespace ipa
