#include "ops/layers.h"

#include <map>
#include <mutex>

#include "ops/cpu/conv2d_plan.h"
#include "ops/profile.h"

namespace ipa::ops {

Tensor Linear::operator()(const Tensor& x, Activation act) const {
  // oneDNN's matmul reads the plain [out, in] weights directly (its GEMM packs internally);
  // linear() caches the primitive per shape, so nothing needs to live in `packed` yet.
  return linear(x, weight, bias, act);
}

namespace {
// Per-layer cache: one plan + reordered weights per input shape seen.
struct ConvEntry {
  cpu::ConvPlan plan;
  dnnl::memory weights;
  Tensor source;  // keeps the weights alive when oneDNN uses them in place
};
struct ConvPacked {
  std::mutex mu;
  std::map<Shape, std::shared_ptr<const ConvEntry>> by_shape;
};
std::mutex g_packed_mu;  // guards the lazy creation of the `packed` members
}  // namespace

Tensor Conv2d::operator()(const Tensor& x_in) const {
  profile::OpScope prof("conv2d");
  const Shape out = cpu::conv2d_out_shape(x_in, weight, bias, params);
  if (numel_of(out) == 0) return Tensor::empty(out);
  prof.set_flops(2.0 * static_cast<double>(numel_of(out)) *
                 static_cast<double>(weight.numel() / weight.size(0)));
  Tensor x = x_in.contiguous();
  ConvPacked* cache;
  {
    std::lock_guard<std::mutex> lock(g_packed_mu);
    if (!packed) packed = std::make_shared<ConvPacked>();
    cache = static_cast<ConvPacked*>(packed.get());
  }
  std::shared_ptr<const ConvEntry> entry;
  {
    std::lock_guard<std::mutex> lock(cache->mu);
    auto it = cache->by_shape.find(x.shape());
    if (it == cache->by_shape.end()) {
      auto e = std::make_shared<ConvEntry>();
      e->source = weight.contiguous();
      e->plan = cpu::make_conv_plan(x.shape(), weight.shape(), bias.defined(), params);
      e->weights = cpu::pack_conv_weights(e->plan, e->source);
      if (cache->by_shape.size() > 64) cache->by_shape.clear();  // bound odd callers
      it = cache->by_shape.emplace(x.shape(), std::move(e)).first;
    }
    entry = it->second;
  }
  return cpu::run_conv_plan(entry->plan, x, entry->weights,
                            bias.defined() ? bias.contiguous() : Tensor());
}

}  // namespace ipa::ops
