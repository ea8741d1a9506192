// linear() on oneDNN's matmul, with an optional per-layer cache of the weights in oneDNN's
// layouts (ops::Linear passes its own; the free function passes none and reorders the plain
// weights on every call, so both run the same primitive and give the same bits).
#pragma once
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <utility>
#include <vector>

#include "ops/ops.h"

namespace ipa::ops {

// F32 or BF16 weights packed into the layouts oneDNN's matmuls asked for (one per layout).
// Packed weights beat oneDNN's per-call copy of plain ones by 5-50 % on AVX-512
// (docs/performance.md).
struct PackedLinearWeights {
  std::mutex mu;
  dnnl::memory source;  // the first packed copy: later layouts are reordered from it
  std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> packed;
};

// x [..., K] · wᵀ + b. `w_shape` is [N, K]; `w` holds the plain weights (F32, or BF16 for a
// bf16 matmul) and may be undefined once `cache` has a packed copy.
Tensor linear_impl(const Tensor& x, const Tensor& w, const Shape& w_shape, DType w_dtype,
                   const Tensor& b, Activation act, PackedLinearWeights* cache);

// Packs the plain F32 or BF16 [N, K] `w` into `cache` in the layout oneDNN's matmul asks for.
// That layout depends on K, N, the dtype and the ISA but not on the row count (oneDNN 2.6), so
// it is found with a probe row count; a call whose primitive asks for another layout gets it
// reordered from this copy then.
void pack_linear_weights(const Tensor& w, PackedLinearWeights& cache);

// The packed source of `cache` as a plain [N, K] tensor of `dtype` (F32 or BF16).
Tensor unpack_linear_weights(PackedLinearWeights& cache, const Shape& w_shape, DType dtype);

}  // namespace ipa::ops
