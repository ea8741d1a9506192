// Weight-holding layers. Each keeps its weights in the compute format and may cache a
// backend-specific packed copy (e.g. oneDNN's blocked layout) on first use, so models never
// repack weights per call.
#pragma once
#include <memory>

#include "ops/ops.h"

namespace ipa::ops {

struct Linear {
  Tensor weight;  // [out, in]
  Tensor bias;    // [out] or undefined
  Tensor operator()(const Tensor& x, Activation act = Activation::None) const;
  int64_t in_features() const { return weight.size(1); }
  int64_t out_features() const { return weight.size(0); }
  mutable std::shared_ptr<void> packed;  // backend cache, filled lazily
};

struct Conv2d {
  Tensor weight;  // [out, in/groups, kh, kw]
  Tensor bias;    // [out] or undefined
  Conv2dParams params;
  Tensor operator()(const Tensor& x) const;
  mutable std::shared_ptr<void> packed;
};

struct GroupNorm {
  int groups = 32;
  float eps = 1e-5f;
  Tensor weight, bias;  // [C]
  Tensor operator()(const Tensor& x, bool fuse_silu = false) const {
    return group_norm(x, groups, weight, bias, eps, fuse_silu);
  }
};

struct LayerNorm {
  float eps = 1e-5f;
  Tensor weight, bias;  // [D]
  Tensor operator()(const Tensor& x) const { return layer_norm(x, weight, bias, eps); }
};

}  // namespace ipa::ops
