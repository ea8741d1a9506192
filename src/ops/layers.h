// Weight-holding layers. Each keeps its weights in the compute format (F32, or BF16 for bf16
// compute: the weights' dtype decides) and caches a backend-specific packed copy (e.g.
// oneDNN's blocked layout) on first use, so models never repack weights per call. Weights on a
// device (tensor/device.h; F32, BF16 or F16 there) stay as given and each call goes to the
// device's backend (ops/backend.h), which packs nothing.
#pragma once
#include <memory>

#include "ops/ops.h"

namespace ipa::ops {

// x · Wᵀ + b with W [out, in]. Host weights (F32, or BF16 for bf16 compute) are reordered into
// the layout oneDNN's matmul asks for by the constructor — at load, not in the first step — and
// the plain copy is released, so a layer holds its weights once; a call whose primitive asks
// for another layout gets it reordered from that packed copy. Copies share the weights and the
// caches. Default-constructed: an absent layer (defined() is false).
class Linear {
 public:
  Linear() = default;
  // weight F32 or BF16 [out, in]; bias F32 [out] or undefined.
  Linear(Tensor weight, Tensor bias);
  bool defined() const { return state_ != nullptr; }
  int64_t in_features() const;
  int64_t out_features() const;
  DType dtype() const;
  const Tensor& bias() const;
  // The weights [out, in] in their dtype: device weights as given, host weights unpacked from
  // oneDNN's copy (a fresh tensor; for loaders, tests and tools, not the hot path).
  Tensor weight() const;
  Tensor operator()(const Tensor& x, Activation act = Activation::None) const;
  // Bytes held for the weights now (plain and packed copies), for memory accounting.
  size_t weight_bytes() const;

 private:
  struct State;
  State& state() const;  // throws for an undefined layer
  std::shared_ptr<State> state_;
};

// A 2-D convolution whose weights live once, in the layout oneDNN computes with. The plain
// [out, in/groups, kh, kw] F32 or BF16 tensor given to the constructor (its dtype is the
// convolution's precision) is reordered into the primitive's blocked layout by prepare() (a
// model calls it at load for the input shape it expects) or else on the first call, and then
// released; input shapes that need another layout are reordered from that packed copy. The
// primitive of each input shape is built once and kept. Copies share the weights and the
// caches. Default-constructed: an absent layer (defined() is false), e.g. a block without a
// downsampler.
class Conv2d {
 public:
  Conv2d() = default;
  Conv2d(Tensor weight, Tensor bias, Conv2dParams params);
  bool defined() const { return state_ != nullptr; }
  const Shape& weight_shape() const;
  const Conv2dParams& params() const;
  Tensor operator()(const Tensor& x) const;
  // Builds the primitive for inputs of `x_shape` [N, C, H, W] and packs the weights into its
  // layout now (the plain copy goes), so the first call with that shape computes at once.
  // Checks the shape as a call would; returns the output shape (models chain their layers'
  // prepare() calls). Calls with other shapes still work: they plan themselves on first use.
  Shape prepare(const Shape& x_shape) const;
  // Whether inputs of this shape have their primitive and packed weights already.
  bool prepared_for(const Shape& x_shape) const;
  // Whether the constructor's plain weights are still held (nothing has been packed yet).
  bool holds_plain_weights() const;
  // Bytes held for the weights now (plain and packed copies), for memory accounting.
  size_t weight_bytes() const;

 private:
  struct State;
  struct Entry;  // one input shape's plan and weights
  std::shared_ptr<const Entry> entry_for(const Shape& x_shape) const;
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
