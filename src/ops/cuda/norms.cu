// group_norm (+ SiLU), layer_norm, softmax and the attention softmax: one block per normalised
// group / row, two-pass statistics (mean, then the sum of squared deviations) in F32 with tree
// reductions, then one pass that writes. Inputs are re-read from global memory (L2) per pass.
#include <string>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/cuda_util.h"
#include "ops/cuda/kernel_util.cuh"

namespace ipa::ops::cuda {

namespace {

constexpr int kNormThreads = 512;
constexpr int kRowThreads = 256;

// One block per (n, group): `group_size` = channels_per_group · spatial contiguous values.
template <typename T>
__global__ void __launch_bounds__(kNormThreads)
    group_norm_kernel(T* __restrict__ y, const T* __restrict__ x, const float* __restrict__ gamma,
                      const float* __restrict__ beta, int groups, int64_t cpg, int64_t spatial,
                      float eps, bool silu) {
  __shared__ float scratch[32];
  const int64_t group_size = cpg * spatial;
  const int64_t base = static_cast<int64_t>(blockIdx.x) * group_size;
  const int g = blockIdx.x % groups;
  const T* xs = x + base;
  T* ys = y + base;
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < group_size; i += blockDim.x) s += to_f32(xs[i]);
  const float mean = block_sum(s, scratch) / static_cast<float>(group_size);
  float sq = 0.f;
  for (int64_t i = threadIdx.x; i < group_size; i += blockDim.x) {
    const float d = to_f32(xs[i]) - mean;
    sq += d * d;
  }
  const float var = block_sum(sq, scratch) / static_cast<float>(group_size);
  const float rstd = rsqrtf(var + eps);
  for (int64_t i = threadIdx.x; i < group_size; i += blockDim.x) {
    const int64_t c = g * cpg + i / spatial;
    const float a = rstd * (gamma ? gamma[c] : 1.f);
    float v = (to_f32(xs[i]) - mean) * a + (beta ? beta[c] : 0.f);
    if (silu) v = v / (1.f + expf(-v));
    ys[i] = from_f32<T>(v);
  }
}

template <typename T>
__global__ void __launch_bounds__(kRowThreads)
    layer_norm_kernel(T* __restrict__ y, const T* __restrict__ x, const float* __restrict__ gamma,
                      const float* __restrict__ beta, int64_t d, float eps) {
  __shared__ float scratch[32];
  const T* xr = x + static_cast<int64_t>(blockIdx.x) * d;
  T* yr = y + static_cast<int64_t>(blockIdx.x) * d;
  float s = 0.f;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) s += to_f32(xr[i]);
  const float mean = block_sum(s, scratch) / static_cast<float>(d);
  float sq = 0.f;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const float v = to_f32(xr[i]) - mean;
    sq += v * v;
  }
  const float rstd = rsqrtf(block_sum(sq, scratch) / static_cast<float>(d) + eps);
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    const float v = (to_f32(xr[i]) - mean) * rstd;
    yr[i] = from_f32<T>(v * (gamma ? gamma[i] : 1.f) + (beta ? beta[i] : 0.f));
  }
}

// Softmax of rows of n values: y = exp(x - max) / Σ exp(x - max). `mask` (may be null) is
// added first, read at mask_row + j·sj. In place is allowed (each element is read and written
// by the same thread).
template <typename S, typename D>
__device__ __forceinline__ void softmax_row(D* y, const S* x, int64_t n, const float* mask_row,
                                            int64_t sj, float* scratch) {
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    m = fmaxf(m, to_f32(x[j]) + (mask_row ? mask_row[j * sj] : 0.f));
  }
  m = block_max(m, scratch);
  float s = 0.f;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    s += expf(to_f32(x[j]) + (mask_row ? mask_row[j * sj] : 0.f) - m);
  }
  const float inv = 1.f / block_sum(s, scratch);
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    y[j] = from_f32<D>(expf(to_f32(x[j]) + (mask_row ? mask_row[j * sj] : 0.f) - m) * inv);
  }
}

template <typename T>
__global__ void __launch_bounds__(kRowThreads) softmax_kernel(T* y, const T* x, int64_t n) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  softmax_row<T, T>(y + r * n, x + r * n, n, nullptr, 0, scratch);
}

// Rows of S [heads, Lq, Lk] (F32): row r is head h0 + r / Lq, query r % Lq of batch b.
template <typename D>
__global__ void __launch_bounds__(kRowThreads)
    attention_softmax_kernel(D* p, const float* s, int64_t Lq, int64_t Lk, int64_t b, int64_t h0,
                             MaskView mask) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x, h = h0 + r / Lq, i = r % Lq;
  const float* mask_row = mask.data ? mask.data + b * mask.sb + h * mask.sh + i * mask.si : nullptr;
  softmax_row<float, D>(p + r * Lk, s + r * Lk, Lk, mask_row, mask.sj, scratch);
}

Tensor optional_vector(const Tensor& t, int64_t n, Device dev, const char* op, const char* arg) {
  if (!t.defined()) return t;
  if (!(t.device() == dev) || !is_float(t.dtype())) {
    fail(op, std::string(arg) + " must be a float tensor on " + dev.name(), t);
  }
  Tensor c = t.to(DType::F32);  // any float dtype: the affine step runs in F32
  if (c.dim() != 1 || c.size(0) != n) {
    fail(op, std::string(arg) + " must have shape [" + std::to_string(n) + "]", c);
  }
  return c;
}

const float* ptr_or_null(const Tensor& t) {
  return t.defined() ? static_cast<const float*>(t.device_data()) : nullptr;
}

// Grid sizes are one block per row; CUDA allows 2^31 - 1 blocks in x.
unsigned row_grid(int64_t rows, const char* op) {
  if (rows > 0x7fffffff) fail(op, "too many rows (" + std::to_string(rows) + ") for one launch");
  return static_cast<unsigned>(rows);
}

}  // namespace

Tensor group_norm(const Tensor& x_in, int groups, const Tensor& gamma_in, const Tensor& beta_in,
                  float eps, bool fuse_silu) {
  const char* op = "group_norm";
  Tensor x = device_input(x_in, op, "x");
  check_group_norm(x, groups);
  const int64_t N = x.size(0), C = x.size(1);
  // gamma/beta in F32: the affine step is F32 arithmetic whatever the activations' dtype.
  Tensor gamma = optional_vector(gamma_in, C, x.device(), op, "weight");
  Tensor beta = optional_vector(beta_in, C, x.device(), op, "bias");
  Tensor y = Tensor::empty_on(x.device(), x.shape(), x.dtype());
  const int64_t spatial = C > 0 && N > 0 ? x.numel() / (N * C) : 0;
  if (spatial == 0) return y;
  Context& c = context_of(x);
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    group_norm_kernel<T><<<row_grid(N * groups, op), kNormThreads, 0, c.stream>>>(
        static_cast<T*>(y.device_data_mutable()), static_cast<const T*>(x.device_data()),
        ptr_or_null(gamma), ptr_or_null(beta), groups, C / groups, spatial, eps, fuse_silu);
  });
  check_launch(op, "group_norm_kernel");
  return y;
}

Tensor layer_norm(const Tensor& x_in, const Tensor& gamma_in, const Tensor& beta_in, float eps) {
  const char* op = "layer_norm";
  Tensor x = device_input(x_in, op, "x");
  if (x.dim() < 1) fail(op, "x must have at least one dimension", x);
  const int64_t D = x.size(-1);
  Tensor gamma = optional_vector(gamma_in, D, x.device(), op, "weight");
  Tensor beta = optional_vector(beta_in, D, x.device(), op, "bias");
  Tensor y = Tensor::empty_on(x.device(), x.shape(), x.dtype());
  if (D == 0 || x.numel() == 0) return y;
  Context& c = context_of(x);
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    layer_norm_kernel<T><<<row_grid(x.numel() / D, op), kRowThreads, 0, c.stream>>>(
        static_cast<T*>(y.device_data_mutable()), static_cast<const T*>(x.device_data()),
        ptr_or_null(gamma), ptr_or_null(beta), D, eps);
  });
  check_launch(op, "layer_norm_kernel");
  return y;
}

Tensor softmax(const Tensor& x_in) {
  const char* op = "softmax";
  Tensor x = device_input(x_in, op, "x");
  if (x.dim() < 1) fail(op, "x must have at least one dimension", x);
  const int64_t D = x.size(-1);
  Tensor y = Tensor::empty_on(x.device(), x.shape(), x.dtype());
  if (D == 0 || x.numel() == 0) return y;
  Context& c = context_of(x);
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    softmax_kernel<T><<<row_grid(x.numel() / D, op), kRowThreads, 0, c.stream>>>(
        static_cast<T*>(y.device_data_mutable()), static_cast<const T*>(x.device_data()), D);
  });
  check_launch(op, "softmax_kernel");
  return y;
}

void attention_softmax(const Tensor& s, void* p, DType p_dtype, int64_t heads, int64_t Lq,
                       int64_t Lk, int64_t b, int64_t h0, const MaskView& mask) {
  const char* op = "attention";
  Context& c = context_of(s);
  dispatch_float(p_dtype, op, [&](auto tag) {
    using D = decltype(tag);
    attention_softmax_kernel<D><<<row_grid(heads * Lq, op), kRowThreads, 0, c.stream>>>(
        static_cast<D*>(p), static_cast<const float*>(s.device_data()), Lq, Lk, b, h0, mask);
  });
  check_launch(op, "attention_softmax_kernel");
}

}  // namespace ipa::ops::cuda
