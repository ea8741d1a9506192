// linear() on oneDNN's matmul, with an optional per-layer cache of bf16 weights in oneDNN's
// layouts (ops::Linear passes its own; the free function passes none and reorders the weights
// on every bf16 call).
#pragma once
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <utility>
#include <vector>

#include "ops/ops.h"

namespace ipa::ops {

// bf16 weights packed into the layouts oneDNN's bf16 matmuls asked for (one per layout).
struct LinearBf16Weights {
  std::mutex mu;
  dnnl::memory source;  // the first packed copy: later layouts are reordered from it
  std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> packed;
};

// x [..., K] · wᵀ + b. `w_shape` is [N, K]; `w` holds the plain weights (F32, or BF16 for a
// bf16 matmul) and may be undefined for BF16 once `cache` has a packed copy.
Tensor linear_impl(const Tensor& x, const Tensor& w, const Shape& w_shape, DType w_dtype,
                   const Tensor& b, Activation act, LinearBf16Weights* cache);

// The packed source of `cache` as a plain BF16 [N, K] tensor.
Tensor unpack_bf16_weights(LinearBf16Weights& cache, const Shape& w_shape);

}  // namespace ipa::ops
