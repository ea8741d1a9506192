// linear() with a per-layer cache for its bf16 weights (ops::Linear passes its own; the free
// function passes none and converts the weights on every call in BF16 precision).
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
  const void* source = nullptr;  // the weights they were packed from (a new tensor repacks)
  std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> packed;
};

Tensor linear_impl(const Tensor& x, const Tensor& w, const Tensor& b, Activation act,
                   LinearBf16Weights* bf16_cache);

}  // namespace ipa::ops
