// The ops of the CUDA backend (the semantics of ops/ops.h; inputs on one CUDA device in F32,
// F16 or BF16, weights in that dtype or F32; results in the inputs' dtype, F32 accumulation).
// cuda_backend.cpp routes ops::Backend's virtuals here. Plain C++: the .cu files implement them.
#pragma once
#include <vector>

#include "ops/op_checks.h"
#include "ops/ops.h"

namespace ipa::ops::cuda {

// gemm.cpp: cuBLASLt (bias and tanh-GELU fused) / cuBLAS strided batched GEMMs.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, Activation act);
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_b, float alpha);
// conv2d.cpp: cuDNN.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p);
// attention.cpp: two strided batched GEMMs around attention_softmax (norms.cu).
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                 const Tensor& mask);

// norms.cu
Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                  bool fuse_silu);
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
Tensor softmax(const Tensor& x);
// P = softmax(S + mask) per row, S F32 [heads, Lq, Lk] of batch `b` from head `h0` on; P in
// `p_dtype` (may alias S when F32). Mask (op_checks.h's MaskView): device data, strides in
// elements (0 where broadcast), data null for none.
void attention_softmax(const Tensor& s, void* p, DType p_dtype, int64_t heads, int64_t Lq,
                       int64_t Lk, int64_t b, int64_t h0, const MaskView& mask);

// pointwise.cu
Tensor activation(const Tensor& x, Activation act);
Tensor geglu(const Tensor& x);
enum class BinaryOp { Add, Sub, Mul, Div };
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& a, float s);
Tensor add_scaled(const Tensor& a, const Tensor& b, float s);
void add_(Tensor& a, const Tensor& b);
// y viewed as [outer, channels, inner] (contiguous): y = act(y + bias[c]); bias (in y's dtype)
// may be undefined.
void bias_activation(Tensor& y, const Tensor& bias, int64_t channels, int64_t inner,
                     Activation act);

// shape.cpp, misc.cu, spatial.cu
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
Tensor embedding(const Tensor& table, const Tensor& ids);
Tensor argmax(const Tensor& x, int64_t dim);
Tensor timestep_embedding(const Tensor& t, int64_t dim, bool flip_sin_to_cos, float freq_shift,
                          float max_period);
Tensor interpolate(const Tensor& x, int64_t out_h, int64_t out_w, Interp mode, bool align_corners);
// Zero padding of x [N, C, H, W] (conv2d's asymmetric paddings, which cuDNN does not take).
Tensor pad2d(const Tensor& x, int top, int bottom, int left, int right);

}  // namespace ipa::ops::cuda
