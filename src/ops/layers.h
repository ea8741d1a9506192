// Weight-holding layers. Each keeps its weights in the compute format (F32, or BF16 for bf16
// compute: the weights' dtype decides) and caches a backend-specific packed copy (e.g.
// oneDNN's blocked layout) on first use, so models never repack weights per call.
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

// A 2-D convolution whose weights live once, in the layout oneDNN computes with. The plain
// [out, in/groups, kh, kw] F32 or BF16 tensor given to the constructor (its dtype is the
// convolution's precision) is reordered into the primitive's blocked layout on the first call
// and then released; later input shapes that need another layout are reordered from that
// packed copy. Copies share the weights and the caches. Default-constructed: an absent
// layer (defined() is false), e.g. a block without a downsampler.
class Conv2d {
 public:
  Conv2d() = default;
  Conv2d(Tensor weight, Tensor bias, Conv2dParams params);
  bool defined() const { return state_ != nullptr; }
  const Shape& weight_shape() const;
  const Conv2dParams& params() const;
  Tensor operator()(const Tensor& x) const;
  // Bytes held for the weights now (plain and packed copies), for memory accounting.
  size_t weight_bytes() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
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
