// Attention in BF16 precision (ops::attention dispatches here): both products are oneDNN bf16
// matmuls (F32 accumulation), the softmax is F32.
#pragma once
#include "ops/ops.h"

namespace ipa::ops {

// An additive F32 mask broadcast to [B, H, Lq, Lk] by element strides (0 where broadcast).
struct MaskView {
  const float* data = nullptr;
  int64_t sb = 0, sh = 0, si = 0, sj = 0;
};

// q [B, Lq, H·D], k and v [B, Lk, H·D] (F32, contiguous, checked by the caller) → out
// [B, Lq, H·D] (allocated by the caller).
void attention_bf16(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, float scale,
                    const MaskView& mask, Tensor& out);

}  // namespace ipa::ops
