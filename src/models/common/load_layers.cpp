#include "models/common/load_layers.h"

namespace ipa {

DType layer_dtype(Precision precision) {
  return precision == Precision::BF16 ? DType::BF16 : DType::F32;
}

ops::Linear load_linear(const WeightScope& ws, const std::string& name, int64_t in, int64_t out,
                        bool bias) {
  Tensor w = ws.get_float(name + ".weight", {out, in}, ws.store().layer_dtype());
  Tensor b = bias ? ws.get_f32(name + ".bias", {out}) : Tensor();
  return ops::Linear(std::move(w), std::move(b));
}

ops::Linear load_fused_linear(const WeightScope& ws, const std::vector<std::string>& names,
                              int64_t in, int64_t out) {
  std::vector<Tensor> weights, biases;
  for (const std::string& name : names) {
    weights.push_back(ws.get_float(name + ".weight", {out, in}, ws.store().layer_dtype()));
    biases.push_back(ws.get_f32(name + ".bias", {out}));
  }
  return ops::Linear(ops::concat(weights, 0), ops::concat(biases, 0));
}

ops::Conv2d load_conv2d(const WeightScope& ws, const std::string& name, int64_t in, int64_t out,
                        int kernel, const ops::Conv2dParams& params, bool bias) {
  Tensor w = ws.get_float(name + ".weight", {out, in / params.groups, kernel, kernel},
                          ws.store().layer_dtype());
  Tensor b = bias ? ws.get_f32(name + ".bias", {out}) : Tensor();
  return ops::Conv2d(std::move(w), std::move(b), params);
}

ops::GroupNorm load_group_norm(const WeightScope& ws, const std::string& name, int64_t channels,
                               int groups, float eps) {
  if (groups <= 0 || channels % groups != 0) {
    throw Error("group norm: " + std::to_string(channels) + " channels do not split into " +
                    std::to_string(groups) + " groups",
                ws.store().label(), ws.join(name));
  }
  ops::GroupNorm g;
  g.groups = groups;
  g.eps = eps;
  g.weight = ws.get_f32(name + ".weight", {channels});
  g.bias = ws.get_f32(name + ".bias", {channels});
  return g;
}

ops::LayerNorm load_layer_norm(const WeightScope& ws, const std::string& name, int64_t dim,
                               float eps) {
  ops::LayerNorm n;
  n.eps = eps;
  n.weight = ws.get_f32(name + ".weight", {dim});
  n.bias = ws.get_f32(name + ".bias", {dim});
  return n;
}

}  // namespace ipa
