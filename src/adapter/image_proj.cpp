#include "adapter/image_proj.h"

#include <cmath>

#include "models/common/load_layers.h"

namespace ipa {

namespace {
constexpr float kLayerNormEps = 1e-5f;  // torch.nn.LayerNorm default, used by all three

void check_feature(const Tensor& f, int64_t rank, int64_t width, const char* what) {
  if (f.dim() != rank || f.size(-1) != width) {
    throw Error(std::string(what) + " expects a feature of rank " + std::to_string(rank) +
                " and width " + std::to_string(width) + ", got " + shape_str(f.shape()));
  }
}
}  // namespace

ImageProjModel::ImageProjModel(const WeightScope& ws, const AdapterInfo& info)
    : tokens_(*info.num_tokens), width_(info.cross_attention_dim) {
  proj_ = load_linear(ws, "proj", info.image_embed_dim, tokens_ * width_);
  norm_ = load_layer_norm(ws, "norm", width_, kLayerNormEps);
}

Tensor ImageProjModel::forward(const Tensor& feature) const {
  check_feature(feature, 2, proj_.in_features(), "ImageProjModel");
  const int64_t batch = feature.size(0);
  return norm_(proj_(feature).reshape({batch, tokens_, width_}));
}

MlpProjModel::MlpProjModel(const WeightScope& ws, const AdapterInfo& info) {
  const int64_t e = info.image_embed_dim, c = info.cross_attention_dim;
  fc1_ = load_linear(ws, "proj.0", e, e);
  fc2_ = load_linear(ws, "proj.2", e, c);
  norm_ = load_layer_norm(ws, "proj.3", c, kLayerNormEps);
}

Tensor MlpProjModel::forward(const Tensor& feature) const {
  check_feature(feature, 3, fc1_.in_features(), "MLPProjModel");
  return norm_(fc2_(fc1_(feature, ops::Activation::GELU)));
}

Resampler::Resampler(const WeightScope& ws, const AdapterInfo& info) : shape_(info.resampler) {
  const ResamplerShape& r = shape_;
  const int64_t inner = r.heads * r.dim_head;
  latents_ = ws.get_f32("latents", {1, r.num_queries, r.dim});
  proj_in_ = load_linear(ws, "proj_in", r.embedding_dim, r.dim);
  proj_out_ = load_linear(ws, "proj_out", r.dim, r.output_dim);
  norm_out_ = load_layer_norm(ws, "norm_out", r.output_dim, kLayerNormEps);
  for (int64_t l = 0; l < r.depth; ++l) {
    const WeightScope attn = ws.scope("layers." + std::to_string(l) + ".0");
    const WeightScope ff = ws.scope("layers." + std::to_string(l) + ".1");
    Layer layer;
    layer.norm_x = load_layer_norm(attn, "norm1", r.dim, kLayerNormEps);
    layer.norm_latents = load_layer_norm(attn, "norm2", r.dim, kLayerNormEps);
    layer.to_q = load_linear(attn, "to_q", r.dim, inner, false);
    layer.to_kv = load_linear(attn, "to_kv", r.dim, 2 * inner, false);
    layer.to_out = load_linear(attn, "to_out", inner, r.dim, false);
    layer.ff_norm = load_layer_norm(ff, "0", r.dim, kLayerNormEps);
    layer.ff_in = load_linear(ff, "1", r.dim, r.ff_mult * r.dim, false);
    layer.ff_out = load_linear(ff, "3", r.ff_mult * r.dim, r.dim, false);
    layers_.push_back(std::move(layer));
  }
}

Tensor Resampler::forward(const Tensor& feature) const {
  check_feature(feature, 3, shape_.embedding_dim, "Resampler");
  const int64_t batch = feature.size(0);
  const int64_t inner = shape_.heads * shape_.dim_head;
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape_.dim_head));
  const Tensor x = proj_in_(feature);
  std::vector<Tensor> repeated(static_cast<size_t>(batch), latents_);
  Tensor lat = ops::concat(repeated, 0);  // [B, Q, D]
  for (const Layer& layer : layers_) {
    const Tensor xn = layer.norm_x(x);
    const Tensor ln = layer.norm_latents(lat);
    const Tensor q = layer.to_q(ln);
    const Tensor kv = layer.to_kv(ops::concat({xn, ln}, 1));
    const Tensor k = ops::slice(kv, -1, 0, inner);
    const Tensor v = ops::slice(kv, -1, inner, 2 * inner);
    Tensor attended = layer.to_out(ops::attention(q, k, v, static_cast<int>(shape_.heads), scale));
    ops::add_(attended, lat);
    lat = attended;
    Tensor ff = layer.ff_out(layer.ff_in(layer.ff_norm(lat), ops::Activation::GELU));
    ops::add_(ff, lat);
    lat = ff;
  }
  return norm_out_(proj_out_(lat));
}

std::unique_ptr<ImageProjection> load_image_projection(const WeightStore& ws,
                                                       const AdapterInfo& info) {
  const WeightScope scope = ws.scope("image_proj");
  switch (info.variant) {
    case AdapterVariant::Basic:
      return std::make_unique<ImageProjModel>(scope, info);
    case AdapterVariant::FullFace:
      return std::make_unique<MlpProjModel>(scope, info);
    case AdapterVariant::Plus:
      return std::make_unique<Resampler>(scope, info);
  }
  throw Error("unknown adapter variant");
}

}  // namespace ipa
