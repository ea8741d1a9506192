#include "models/unet/unet.h"

#include "models/common/load_layers.h"
#include "weights/model_folder.h"

namespace ipa::unet {

namespace {

// Top-level module names of a UNet2DConditionModel checkpoint; leftover keys under these mean
// the config describes a different model than the weights.
constexpr const char* kUNetModules[] = {
    "conv_in",   "time_embedding", "add_embedding", "down_blocks",     "mid_block",
    "up_blocks", "conv_norm_out",  "conv_out",      "class_embedding", "encoder_hid_proj"};

void check_no_leftover_weights(const WeightScope& ws) {
  const std::string prefix = ws.prefix().empty() ? "" : ws.prefix() + ".";
  std::vector<std::string> leftover;
  for (const auto& key : ws.store().unused_keys()) {
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rel = key.substr(prefix.size());
    const std::string head = rel.substr(0, rel.find('.'));
    for (const char* m : kUNetModules) {
      if (head == m) {
        leftover.push_back(key);
        break;
      }
    }
  }
  if (!leftover.empty()) {
    throw Error(std::to_string(leftover.size()) +
                    " UNet weight(s) are not used by the UNet config (first: '" + leftover[0] +
                    "'): config.json describes a smaller model than the checkpoint",
                ws.store().label());
  }
}

void check_tokens(const Tensor& t, const char* what, int64_t batch, int64_t width) {
  if (t.dim() != 3 || t.size(0) != batch || t.size(1) < 1 || (width > 0 && t.size(2) != width)) {
    throw Error(std::string("UNet: ") + what + " must be [" + std::to_string(batch) + ", L, " +
                (width > 0 ? std::to_string(width) : std::string("C")) + "] with L ≥ 1, got " +
                shape_str(t.shape()));
  }
  if (t.dtype() != DType::F32) {
    throw Error(std::string("UNet: ") + what + " must be F32, got " + t.describe());
  }
}

}  // namespace

UNet2DConditionModel UNet2DConditionModel::load(const UNetConfig& config, const WeightScope& ws) {
  UNet2DConditionModel m;
  m.config_ = config;
  const UNetConfig& c = config;
  const int64_t ch0 = c.block_out_channels[0];

  m.conv_in_ = load_conv2d(ws, "conv_in", c.in_channels, ch0, c.conv_in_kernel,
                           ops::Conv2dParams::same(1, (c.conv_in_kernel - 1) / 2));
  m.time_embedding_ = TimeEmbedding::load(ws, c);

  BlockCommon common;
  common.temb_channels = c.time_embed_dim;
  common.norm_groups = c.norm_num_groups;
  common.norm_eps = c.norm_eps;
  common.use_linear_projection = c.use_linear_projection;
  common.downsample_padding = c.downsample_padding;

  for (size_t i = 0; i < c.down_blocks.size(); ++i) {
    m.down_.push_back(
        DownBlock::load(ws.scope("down_blocks." + std::to_string(i)), c.down_blocks[i], common));
  }
  if (!c.mid.type.empty()) {
    m.mid_ = MidBlock::load(ws.scope("mid_block"), c.mid, common, c.mid_block_scale_factor);
    m.has_mid_ = true;
  }
  for (size_t i = 0; i < c.up_blocks.size(); ++i) {
    m.up_.push_back(
        UpBlock::load(ws.scope("up_blocks." + std::to_string(i)), c.up_blocks[i], common));
  }
  m.norm_out_ = load_group_norm(ws, "conv_norm_out", ch0, c.norm_num_groups, c.norm_eps);
  m.conv_out_ = load_conv2d(ws, "conv_out", ch0, c.out_channels, c.conv_out_kernel,
                            ops::Conv2dParams::same(1, (c.conv_out_kernel - 1) / 2));
  check_no_leftover_weights(ws);
  m.index_cross_attention_layers();
  return m;
}

UNet2DConditionModel UNet2DConditionModel::load_dir(const std::string& dir, Precision precision,
                                                    Device device) {
  ModelFolder folder = open_model_folder(dir, layer_dtype(precision));
  folder.weights.set_device(device);
  return load(parse_unet_config(folder.config, folder.config_path), folder.weights.scope(""));
}

void UNet2DConditionModel::index_cross_attention_layers() {
  layers_ = unet::cross_attention_layers(config_);
  // The model walk and the config-derived list must agree; they are derived independently.
  std::vector<BasicTransformerBlock*> blocks;
  auto add = [&](std::vector<Transformer2DModel>& attentions) {
    for (auto& t : attentions) {
      for (auto& block : t.blocks) blocks.push_back(&block);
    }
  };
  for (auto& d : down_) add(d.attentions);
  for (auto& u : up_) add(u.attentions);
  if (has_mid_) add(mid_.attentions);
  bool same = blocks.size() == layers_.size();
  for (size_t i = 0; same && i < blocks.size(); ++i) {
    const std::string& walked = blocks[i]->attn2_path;
    const std::string& listed = layers_[i].path;
    same = listed.size() <= walked.size() &&
           walked.compare(walked.size() - listed.size(), std::string::npos, listed) == 0 &&
           blocks[i]->attn2.inner_dim() == layers_[i].inner_dim();
    blocks[i]->layer = static_cast<int>(i);
  }
  if (!same) throw Error("internal error: the UNet's attention layers disagree with its config");
}

void UNet2DConditionModel::check_inputs(const UNetInputs& in) const {
  const Tensor& s = in.sample;
  if (!s.defined() || s.dim() != 4 || s.size(1) != config_.in_channels || s.size(0) < 1) {
    throw Error("UNet: sample must be [B, " + std::to_string(config_.in_channels) +
                ", H, W], got " + (s.defined() ? shape_str(s.shape()) : std::string("nothing")));
  }
  if (s.dtype() != DType::F32) throw Error("UNet: sample must be F32, got " + s.describe());
  const int64_t B = s.size(0);
  const int64_t C = config_.cross_attention_dim_per_block ? 0 : config_.cross_attention_dim;
  if (!in.text.defined()) throw Error("UNet: text embeddings (encoder_hidden_states) missing");
  check_tokens(in.text, "text embeddings", B, C);
  time_embedding_.check_inputs(in.timestep, in.text_embeds, in.time_ids, B, "UNet");
}

Tensor UNet2DConditionModel::forward(const UNetInputs& in) const {
  check_inputs(in);
  const int64_t B = in.sample.size(0);
  const Tensor temb_act =
      ops::silu(time_embedding_.forward(in.timestep, in.text_embeds, in.time_ids, B));
  const CrossContext ctx{in.text, &layers_, in.cross_attention};

  Tensor x = in.sample;
  if (config_.center_input_sample)
    x = ops::sub(ops::scale(x, 2.f), Tensor::full({1}, 1.f).to(x.device()));
  // The blocks run channels-last on the host (ops.h: oneDNN's convolutions compute in it, so
  // no transposes around each of them); the noise prediction leaves as a contiguous tensor.
  x = conv_in_(ops::to_channels_last(x));

  std::vector<Tensor> skips{x};
  for (const auto& d : down_) x = d.forward(x, temb_act, ctx, &skips);
  add_residuals(in, &skips);
  if (has_mid_) x = mid_.forward(x, temb_act, ctx);
  if (in.mid_residual.defined()) x = ops::add(x, in.mid_residual);
  for (const auto& u : up_) {
    // Upsample to the size of the skip the next block starts with (diffusers passes it as
    // upsample_size when the latent size is not a multiple of 2^num_upsamplers; otherwise it
    // is exactly twice the size).
    std::pair<int64_t, int64_t> hw{0, 0};
    if (u.upsampler.defined()) {
      const Tensor& next = skips[skips.size() - u.num_skips() - 1];
      hw = {next.size(2), next.size(3)};
    }
    x = u.forward(x, temb_act, ctx, &skips, hw);
  }
  return conv_out_(norm_out_(x, /*fuse_silu=*/true)).contiguous();
}

void UNet2DConditionModel::prepare(const Shape& sample) const {
  if (sample.size() != 4 || sample[1] != config_.in_channels) {
    throw Error("UNet: prepare needs a sample shape [B, " + std::to_string(config_.in_channels) +
                ", H, W], got " + shape_str(sample));
  }
  // forward() on shapes.
  Shape x = conv_in_.prepare(sample);
  std::vector<Shape> skips{x};
  for (const auto& d : down_) x = d.prepare(x, &skips);
  if (has_mid_) x = mid_.prepare(x);
  for (const auto& u : up_) {
    std::pair<int64_t, int64_t> hw{0, 0};
    if (u.upsampler.defined()) {
      const Shape& next = skips[skips.size() - u.num_skips() - 1];
      hw = {next[2], next[3]};
    }
    x = u.prepare(x, &skips, hw);
  }
  conv_out_.prepare(x);
}

void UNet2DConditionModel::add_residuals(const UNetInputs& in, std::vector<Tensor>* skips) const {
  if (in.down_residuals.empty()) return;
  if (in.down_residuals.size() != skips->size()) {
    throw Error("UNet: " + std::to_string(in.down_residuals.size()) +
                " down-block residuals were given but this UNet has " +
                std::to_string(skips->size()) + " skip connections");
  }
  for (size_t i = 0; i < skips->size(); ++i) {
    Tensor& skip = (*skips)[i];
    // diffusers adds with broadcasting: a ControlNet with global_pool_conditions gives
    // [B, C, 1, 1] per skip.
    const Shape& r = in.down_residuals[i].shape();
    const Shape& s = skip.shape();
    const bool fits = r.size() == 4 && r[0] == s[0] && r[1] == s[1] &&
                      (r[2] == s[2] || r[2] == 1) && (r[3] == s[3] || r[3] == 1);
    if (!fits) {
      throw Error("UNet: down-block residual " + std::to_string(i) + " is " +
                  shape_str(in.down_residuals[i].shape()) + " but the skip connection is " +
                  shape_str(skip.shape()));
    }
    skip = ops::add(skip, in.down_residuals[i]);
  }
}

}  // namespace ipa::unet
