#include "models/unet/time_embedding.h"

#include "models/common/load_layers.h"

namespace ipa::unet {

namespace {

std::vector<float> timestep_values(const Tensor& t, int64_t batch, const std::string& model) {
  if (!t.defined()) throw Error(model + ": timestep is missing");
  std::vector<float> v = t.to_floats();
  if (v.size() == 1) return std::vector<float>(static_cast<size_t>(batch), v[0]);
  if (static_cast<int64_t>(v.size()) == batch && t.dim() == 1) return v;
  throw Error(model + ": timestep must be a scalar, [1] or [" + std::to_string(batch) + "], got " +
              shape_str(t.shape()));
}

}  // namespace

TimeEmbedding TimeEmbedding::load(const WeightScope& ws, const UNetConfig& c) {
  TimeEmbedding e;
  e.proj_dim_ = c.time_proj_dim;
  e.device_ = ws.store().device();
  e.flip_sin_to_cos_ = c.flip_sin_to_cos;
  e.freq_shift_ = c.freq_shift;
  e.text_time_ = c.text_time;
  e.addition_time_embed_dim_ = c.addition_time_embed_dim;
  e.projection_input_dim_ = c.projection_class_embeddings_input_dim;
  e.linear_1_ = load_linear(ws, "time_embedding.linear_1", c.time_proj_dim, c.time_embed_dim);
  e.linear_2_ = load_linear(ws, "time_embedding.linear_2", c.time_embed_dim, c.time_embed_dim);
  if (c.text_time) {
    e.add_linear_1_ = load_linear(ws, "add_embedding.linear_1",
                                  c.projection_class_embeddings_input_dim, c.time_embed_dim);
    e.add_linear_2_ = load_linear(ws, "add_embedding.linear_2", c.time_embed_dim, c.time_embed_dim);
  }
  return e;
}

void TimeEmbedding::check_inputs(const Tensor& timestep, const Tensor& te, const Tensor& ids,
                                 int64_t B, const std::string& model) const {
  timestep_values(timestep, B, model);
  if (text_time_) {
    if (!te.defined() || !ids.defined()) {
      throw Error(model + ": this " + model +
                  " uses text_time conditioning (SDXL): text_embeds and time_ids are required");
    }
    if (te.dim() != 2 || te.size(0) != B || te.dtype() != DType::F32) {
      throw Error(model + ": text_embeds must be F32 [" + std::to_string(B) + ", P], got " +
                  te.describe());
    }
    if (ids.dim() != 2 || ids.size(0) != B) {
      throw Error(model + ": time_ids must be [" + std::to_string(B) + ", N], got " +
                  shape_str(ids.shape()));
    }
    const int64_t width = te.size(1) + ids.size(1) * addition_time_embed_dim_;
    if (width != projection_input_dim_) {
      throw Error(model + ": text_embeds " + shape_str(te.shape()) + " and time_ids " +
                  shape_str(ids.shape()) + " give " + std::to_string(width) +
                  " features, but add_embedding expects " + std::to_string(projection_input_dim_) +
                  " (projection_class_embeddings_input_dim)");
    }
  } else if (te.defined() || ids.defined()) {
    throw Error(model + ": text_embeds/time_ids were given but this " + model +
                " has no text_time conditioning (addition_embed_type is not \"text_time\")");
  }
}

Tensor TimeEmbedding::forward(const Tensor& timestep, const Tensor& text_embeds,
                              const Tensor& time_ids, int64_t batch) const {
  const Tensor t =
      Tensor::from_vector({batch}, timestep_values(timestep, batch, "model")).to(device_);
  const Tensor t_emb = ops::timestep_embedding(t, proj_dim_, flip_sin_to_cos_, freq_shift_);
  Tensor emb = linear_2_(linear_1_(t_emb, ops::Activation::SiLU));
  if (text_time_) {
    const Tensor ids = time_ids.to(device_).to(DType::F32).reshape({-1});
    const Tensor time_embeds =
        ops::timestep_embedding(ids, addition_time_embed_dim_, flip_sin_to_cos_, freq_shift_)
            .reshape({batch, -1});
    const Tensor add_embeds = ops::concat({text_embeds, time_embeds}, 1);
    ops::add_(emb, add_linear_2_(add_linear_1_(add_embeds, ops::Activation::SiLU)));
  }
  return emb;
}

}  // namespace ipa::unet
