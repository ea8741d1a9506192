// Backend-neutral argument checks and shape logic of the ops, shared by the CPU ops
// (src/ops/cpu) and the CUDA backend (src/ops/cuda), so both accept the same inputs and fail
// with the same messages. Plain C++ (the CUDA .cu files include it through nvcc).
#pragma once
#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace ipa::ops {

// Throws ipa::Error "op: what (got F32[2, 3])".
[[noreturn]] void fail(const char* op, const std::string& what, const Tensor& t);
// Throws ipa::Error "op: what".
[[noreturn]] void fail(const char* op, const std::string& what);
// t.dim() == rank, or "op: arg must have rank N (got ...)".
void check_rank(const Tensor& t, int64_t rank, const char* op, const char* arg);

// Numpy broadcast shape of a and b, or an error naming both.
Shape broadcast_shape(const Tensor& a, const Tensor& b, const char* op);
// Element strides of contiguous t viewed in the broadcast shape `out` (0 on broadcast dims).
Shape broadcast_strides(const Tensor& t, const Shape& out);

// matmul(a, b, trans_b) operands padded with leading 1s to the common rank, checked: both of
// rank >= 2, inner dimensions equal, batch dimensions broadcasting.
struct MatmulShapes {
  int64_t rank = 0;
  Shape a, b;  // padded shapes
  int64_t M = 0, K = 0, N = 0;
  Shape out;          // [broadcast batch..., M, N]
  std::string names;  // "a F32[2, 3], b F32[3, 4]" (+ " (b transposed)") for messages
};
MatmulShapes matmul_shapes(const Tensor& a, const Tensor& b, bool trans_b);

// An additive F32 attention mask broadcast to [B, H, Lq, Lk]: element strides, 0 where
// broadcast. `data` is left for the backend to set (host or device pointer).
struct MaskView {
  const float* data = nullptr;
  int64_t sb = 0, sh = 0, si = 0, sj = 0;
};
// Checks a contiguous mask (undefined: no mask, all strides 0).
MaskView attention_mask_view(const Tensor& mask, int64_t B, int64_t H, int64_t Lq, int64_t Lk);

// argmax(x, dim): x viewed as [outer, size, inner] around the (wrapped) dimension `dim`.
struct ArgmaxShape {
  int64_t dim = 0, outer = 1, size = 0, inner = 1;
  Shape out;  // x's shape without `dim`
};
ArgmaxShape argmax_shape(const Tensor& x, int64_t dim);

// attention(q, k, v, heads): q [B, Lq, H*D], k and v [B, Lk, H*D]. The ranks first (a backend
// may check dtypes and devices in between), then the head split and agreement of the shapes.
void check_attention_ranks(const Tensor& q, const Tensor& k, const Tensor& v);
struct AttentionDims {
  int64_t B = 0, Lq = 0, Lk = 0, H = 0, D = 0, HD = 0;
};
AttentionDims attention_dims(const Tensor& q, const Tensor& k, const Tensor& v, int heads);

// interpolate: x is [N, C, H, W], input and output sizes positive.
void check_interpolate(const Tensor& x, int64_t out_h, int64_t out_w);

// group_norm: x is [N, C, ...] and C splits into `groups`.
void check_group_norm(const Tensor& x, int groups);

}  // namespace ipa::ops
