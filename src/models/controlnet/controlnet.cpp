#include "models/controlnet/controlnet.h"

#include <cmath>

#include "models/common/load_layers.h"

namespace ipa::controlnet {

namespace {

// Top-level module names of a ControlNetModel checkpoint.
void check_no_leftover_weights(const WeightScope& ws) {
  const std::string prefix = ws.prefix().empty() ? "" : ws.prefix() + ".";
  std::vector<std::string> leftover;
  for (const auto& key : ws.store().unused_keys()) {
    if (key.compare(0, prefix.size(), prefix) == 0) leftover.push_back(key);
  }
  if (!leftover.empty()) {
    throw Error(std::to_string(leftover.size()) +
                    " weight(s) are not used by the ControlNet config (first: '" + leftover[0] +
                    "'): the config describes another model than the checkpoint",
                ws.store().source_of(leftover[0]), leftover[0]);
  }
}

// The spatial size after the conditioning embedding's stride-2 convolutions (3×3, pad 1).
int64_t embedded_size(int64_t n, size_t halvings) {
  for (size_t i = 0; i < halvings; ++i) n = (n + 1) / 2;
  return n;
}

// torch.logspace(-1, 0, n) in float32 (its CPU kernel: pow(10, start + step·i) for the first
// half, pow(10, end - step·(n-1-i)) for the second).
std::vector<float> logspace_0_1(int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  const float start = -1.f, end = 0.f;
  const float step = n > 1 ? (end - start) / static_cast<float>(n - 1) : 0.f;
  for (int64_t i = 0; i < n; ++i) {
    const float e = i < n / 2 ? start + step * static_cast<float>(i)
                              : end - step * static_cast<float>(n - 1 - i);
    out[static_cast<size_t>(i)] = std::pow(10.f, e);
  }
  return out;
}

// Mean over H and W, keeping them as 1 × 1. Summed on the host in double, as before: on a
// device an explicit copy of the residual there and of the [N, C, 1, 1] means back (only for
// ControlNets with global_pool_conditions).
Tensor mean_hw(const Tensor& x_in) {
  const Tensor x = x_in.to(Device{}).contiguous();  // the blocks' output may be channels-last
  const int64_t N = x.size(0) * x.size(1), HW = x.size(2) * x.size(3);
  Tensor out = Tensor::empty({x.size(0), x.size(1), 1, 1});
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  for (int64_t i = 0; i < N; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < HW; ++j) sum += src[i * HW + j];
    dst[i] = static_cast<float>(sum / static_cast<double>(HW));
  }
  return out.to(x_in.device());
}

}  // namespace

void add_residuals(const ControlNetOutput& out, unet::UNetInputs* in) {
  if (in->down_residuals.empty() && !in->mid_residual.defined()) {
    in->down_residuals = out.down_residuals;
    in->mid_residual = out.mid_residual;
    return;
  }
  if (in->down_residuals.size() != out.down_residuals.size()) {
    throw Error("ControlNet: " + std::to_string(out.down_residuals.size()) +
                " residuals cannot be added to " + std::to_string(in->down_residuals.size()));
  }
  for (size_t i = 0; i < out.down_residuals.size(); ++i) {
    in->down_residuals[i] = ops::add(in->down_residuals[i], out.down_residuals[i]);
  }
  in->mid_residual = ops::add(in->mid_residual, out.mid_residual);
}

ControlNetModel ControlNetModel::load(const ControlNetConfig& config, const WeightScope& ws) {
  ControlNetModel m;
  m.config_ = config;
  const unet::UNetConfig& c = config.unet;
  const int64_t ch0 = c.block_out_channels.at(0);

  m.time_embedding_ = unet::TimeEmbedding::load(ws, c);
  m.conv_in_ = load_conv2d(ws, "conv_in", c.in_channels, ch0, 3, ops::Conv2dParams::same(1, 1));
  m.cond_embedding_ = ConditioningEmbedding::load(ws.scope("controlnet_cond_embedding"), config);

  unet::BlockCommon common;
  common.temb_channels = c.time_embed_dim;
  common.norm_groups = c.norm_num_groups;
  common.norm_eps = c.norm_eps;
  common.use_linear_projection = c.use_linear_projection;
  common.downsample_padding = c.downsample_padding;
  for (size_t i = 0; i < c.down_blocks.size(); ++i) {
    m.down_.push_back(unet::DownBlock::load(ws.scope("down_blocks." + std::to_string(i)),
                                            c.down_blocks[i], common));
  }
  m.mid_ = unet::MidBlock::load(ws.scope("mid_block"), c.mid, common, c.mid_block_scale_factor);

  const auto one = ops::Conv2dParams::same(1, 0);
  const std::vector<int64_t> channels = skip_channels(c);
  for (size_t k = 0; k < channels.size(); ++k) {
    m.controlnet_down_.push_back(load_conv2d(ws, "controlnet_down_blocks." + std::to_string(k),
                                             channels[k], channels[k], 1, one));
  }
  m.controlnet_mid_ =
      load_conv2d(ws, "controlnet_mid_block", c.mid.channels, c.mid.channels, 1, one);
  check_no_leftover_weights(ws);
  return m;
}

void ControlNetModel::check_inputs(const ControlNetInputs& in) const {
  const unet::UNetConfig& c = config_.unet;
  const Tensor& s = in.sample;
  if (!s.defined() || s.dim() != 4 || s.size(1) != c.in_channels || s.size(0) < 1 ||
      s.dtype() != DType::F32) {
    throw Error("ControlNet: sample must be F32 [B, " + std::to_string(c.in_channels) +
                ", h, w], got " + (s.defined() ? s.describe() : std::string("nothing")));
  }
  const int64_t B = s.size(0);
  const Tensor& t = in.text;
  if (!t.defined() || t.dim() != 3 || t.size(0) != B || t.size(1) < 1 || t.dtype() != DType::F32 ||
      (!c.cross_attention_dim_per_block && t.size(2) != c.cross_attention_dim)) {
    throw Error("ControlNet: text embeddings (encoder_hidden_states) must be F32 [" +
                std::to_string(B) + ", L, " + std::to_string(c.cross_attention_dim) + "], got " +
                (t.defined() ? t.describe() : std::string("nothing")) +
                " (a ControlNet for another model family?)");
  }
  time_embedding_.check_inputs(in.timestep, in.text_embeds, in.time_ids, B, "ControlNet");

  const Tensor& img = in.image;
  if (!img.defined() || img.dim() != 4 || img.dtype() != DType::F32 ||
      img.size(1) != config_.conditioning_channels || (img.size(0) != B && img.size(0) != 1)) {
    throw Error("ControlNet: the control image must be F32 [" + std::to_string(B) + " or 1, " +
                std::to_string(config_.conditioning_channels) + ", H, W], got " +
                (img.defined() ? img.describe() : std::string("nothing")));
  }
  const size_t halvings = config_.conditioning_embedding_out_channels.size() - 1;
  const int64_t eh = embedded_size(img.size(2), halvings),
                ew = embedded_size(img.size(3), halvings);
  if (eh != s.size(2) || ew != s.size(3)) {
    throw Error("ControlNet: the control image is " + std::to_string(img.size(2)) + "×" +
                std::to_string(img.size(3)) + ", which the conditioning embedding brings to " +
                std::to_string(eh) + "×" + std::to_string(ew) + ", but the latents are " +
                std::to_string(s.size(2)) + "×" + std::to_string(s.size(3)) +
                " (the image must be " + std::to_string(config_.image_scale()) +
                "× the latent size)");
  }
  if (!std::isfinite(in.conditioning_scale)) {
    throw Error("ControlNet: conditioning_scale must be finite");
  }
}

ControlNetOutput ControlNetModel::forward(const ControlNetInputs& in) const {
  check_inputs(in);
  const int64_t B = in.sample.size(0);
  const Tensor temb_act =
      ops::silu(time_embedding_.forward(in.timestep, in.text_embeds, in.time_ids, B));
  const unet::CrossContext ctx{in.text, nullptr, nullptr};

  // Channels-last on the host, as the UNet's blocks (unet.cpp); the residuals keep the layout
  // and are added to the UNet's skips as they are.
  Tensor x =
      ops::add(conv_in_(ops::to_channels_last(in.sample)),
               cond_embedding_.forward(ops::to_channels_last(in.image.to(in.sample.device()))));
  std::vector<Tensor> skips{x};
  for (const auto& d : down_) x = d.forward(x, temb_act, ctx, &skips);
  x = mid_.forward(x, temb_act, ctx);

  ControlNetOutput out;
  const size_t K = skips.size();
  // diffusers: guess mode (without global pooling) weights the residuals from 0.1 (shallowest)
  // to 1 (mid block).
  const bool ramp = in.guess_mode && !config_.global_pool_conditions;
  std::vector<float> scales(K + 1, in.conditioning_scale);
  if (ramp) {
    const std::vector<float> ls = logspace_0_1(static_cast<int64_t>(K + 1));
    for (size_t k = 0; k <= K; ++k) scales[k] = ls[k] * in.conditioning_scale;
  }
  for (size_t k = 0; k < K; ++k) {
    Tensor r = ops::scale(controlnet_down_[k](skips[k]), scales[k]);
    out.down_residuals.push_back(config_.global_pool_conditions ? mean_hw(r) : r);
  }
  Tensor mid = ops::scale(controlnet_mid_(x), scales[K]);
  out.mid_residual = config_.global_pool_conditions ? mean_hw(mid) : mid;
  return out;
}

}  // namespace ipa::controlnet
