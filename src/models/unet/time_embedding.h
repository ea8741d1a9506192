// The conditioning vector every resnet of a UNet-like model receives (diffusers' time_proj +
// time_embedding, and for addition_embed_type "text_time" (SDXL) add_time_proj + add_embedding):
//   emb = linear_2(SiLU(linear_1(sinusoid(t))))
//       [+ add_linear_2(SiLU(add_linear_1(cat(text_embeds, sinusoid(time_ids)))))]
// Shared by the UNet and ControlNet, which carry their own copies of these weights.
#pragma once
#include <string>

#include "models/unet/config.h"
#include "ops/layers.h"
#include "weights/weight_store.h"

namespace ipa::unet {

class TimeEmbedding {
 public:
  // time_embedding.linear_{1,2} and, with text_time, add_embedding.linear_{1,2} under `ws`.
  static TimeEmbedding load(const WeightScope& ws, const UNetConfig& config);

  // Throws naming `model` ("UNet", "ControlNet") when the timestep or the text_time inputs do
  // not fit this embedding and a batch of `batch`.
  void check_inputs(const Tensor& timestep, const Tensor& text_embeds, const Tensor& time_ids,
                    int64_t batch, const std::string& model) const;
  // [batch, time_embed_dim], before the SiLU the resnets apply. The timestep's values are
  // read on the host (a scalar or [batch]; a copy when it is on a device); time_ids may be on
  // the host or the weights' device.
  Tensor forward(const Tensor& timestep, const Tensor& text_embeds, const Tensor& time_ids,
                 int64_t batch) const;

 private:
  int64_t proj_dim_ = 0;
  bool flip_sin_to_cos_ = true;
  float freq_shift_ = 0.f;
  bool text_time_ = false;
  int64_t addition_time_embed_dim_ = 0;
  int64_t projection_input_dim_ = 0;
  ops::Linear linear_1_, linear_2_;
  ops::Linear add_linear_1_, add_linear_2_;  // text_time only
  Device device_;  // of the weights: the timesteps (host values) are moved there
};

}  // namespace ipa::unet
