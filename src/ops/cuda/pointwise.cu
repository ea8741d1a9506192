// Elementwise ops: activations (exact-erf GELU, tanh GELU, quick GELU, SiLU), GEGLU, binary ops
// with numpy broadcasting, scale, add_scaled, add_ and the bias + activation epilogue of
// linear/conv2d when no library fuses it. Grid-stride loops, F32 arithmetic, one store per
// element.
#include <algorithm>
#include <string>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/cuda_util.h"
#include "ops/cuda/kernel_util.cuh"

namespace ipa::ops::cuda {

namespace {

// GELU(x) = x·Φ(x); normcdff stays accurate in the far tails where 1 + erf(x/√2) cancels.
__device__ __forceinline__ float gelu_erf(float x) {
  return x * normcdff(x);
}
__device__ __forceinline__ float gelu_tanh(float x) {
  return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
__device__ __forceinline__ float apply(Activation act, float x) {
  switch (act) {
    case Activation::GELU:
      return gelu_erf(x);
    case Activation::GELUTanh:
      return gelu_tanh(x);
    case Activation::QuickGELU:
      return x / (1.f + expf(-1.702f * x));
    case Activation::SiLU:
      return x / (1.f + expf(-x));
    case Activation::None:
      break;
  }
  return x;
}

template <typename T>
__global__ void activation_kernel(T* __restrict__ y, const T* __restrict__ x, int64_t n,
                                  Activation act) {
  IPA_GRID_STRIDE(i, n) {
    y[i] = from_f32<T>(apply(act, to_f32(x[i])));
  }
}

template <typename T>
__global__ void geglu_kernel(T* __restrict__ y, const T* __restrict__ x, int64_t rows,
                             int64_t half) {
  IPA_GRID_STRIDE(i, rows * half) {
    const int64_t r = i / half, j = i % half;
    const T* row = x + r * 2 * half;
    y[i] = from_f32<T>(to_f32(row[j]) * gelu_erf(to_f32(row[half + j])));
  }
}

constexpr int kMaxRank = 8;
struct Broadcast {
  int64_t out[kMaxRank];
  int64_t sa[kMaxRank];  // element strides, 0 on broadcast dims
  int64_t sb[kMaxRank];
  int rank;
};

__device__ __forceinline__ float binary_op(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add:
      return a + b;
    case BinaryOp::Sub:
      return a - b;
    case BinaryOp::Mul:
      return a * b;
    case BinaryOp::Div:
      return a / b;
  }
  return a;
}

template <typename T>
__global__ void binary_kernel(T* y, const T* a, const T* b, Broadcast bc, int64_t n, BinaryOp op) {
  IPA_GRID_STRIDE(i, n) {
    int64_t oa = 0, ob = 0, rem = i;
    for (int d = bc.rank - 1; d >= 0; --d) {
      const int64_t idx = rem % bc.out[d];
      rem /= bc.out[d];
      oa += idx * bc.sa[d];
      ob += idx * bc.sb[d];
    }
    y[i] = from_f32<T>(binary_op(op, to_f32(a[oa]), to_f32(b[ob])));
  }
}

template <typename T>
__global__ void scale_add_kernel(T* __restrict__ y, const T* __restrict__ a,
                                 const T* __restrict__ b, float s, int64_t n) {
  // y = a + s·b, or y = s·a when b is null.
  IPA_GRID_STRIDE(i, n) {
    y[i] = from_f32<T>(b ? to_f32(a[i]) + s * to_f32(b[i]) : to_f32(a[i]) * s);
  }
}

template <typename T>
__global__ void bias_activation_kernel(T* __restrict__ y, const T* __restrict__ bias, int64_t n,
                                       int64_t channels, int64_t inner, Activation act) {
  IPA_GRID_STRIDE(i, n) {
    float v = to_f32(y[i]);
    if (bias) v += to_f32(bias[(i / inner) % channels]);
    y[i] = from_f32<T>(apply(act, v));
  }
}

// y (contiguous, shape `out`) = op(a, b) broadcast; a, b contiguous in y's dtype.
void launch_binary(const char* op, BinaryOp bop, Tensor& y, const Tensor& a, const Tensor& b) {
  const Shape& out = y.shape();
  if (static_cast<int>(out.size()) > kMaxRank) {
    fail(op, "rank above " + std::to_string(kMaxRank) + " is not supported on CUDA", y);
  }
  Broadcast bc{};
  bc.rank = static_cast<int>(out.size());
  for (int d = 0; d < bc.rank; ++d) bc.out[d] = out[d];
  const Shape sa = broadcast_strides(a, out), sb = broadcast_strides(b, out);
  std::copy(sa.begin(), sa.end(), bc.sa);
  std::copy(sb.begin(), sb.end(), bc.sb);
  const int64_t n = y.numel();
  if (n == 0) return;
  Context& c = context_of(y);
  dispatch_float(y.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    binary_kernel<T><<<grid_for(n), kThreads, 0, c.stream>>>(
        static_cast<T*>(y.device_data_mutable()), static_cast<const T*>(a.device_data()),
        static_cast<const T*>(b.device_data()), bc, n, bop);
  });
  check_launch(op, "binary_kernel");
}

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add:
      return "add";
    case BinaryOp::Sub:
      return "sub";
    case BinaryOp::Mul:
      return "mul";
    case BinaryOp::Div:
      return "div";
  }
  return "binary";
}

// The second operand in the first one's dtype (mixed float dtypes are converted, not refused:
// the first operand's dtype is the result's).
Tensor second_operand(const Tensor& b_in, const Tensor& a, const char* op) {
  Tensor b = device_input(b_in, op, "b");
  if (!(b.device() == a.device())) fail(op, "a and b must be on the same device", b);
  return b.to(a.dtype());
}

}  // namespace

Tensor activation(const Tensor& x_in, Activation act) {
  const char* op = "activation";
  Tensor x = device_input(x_in, op, "x");
  if (act == Activation::None) return x;
  Tensor y = Tensor::empty_on(x.device(), x.shape(), x.dtype());
  const int64_t n = x.numel();
  if (n == 0) return y;
  Context& c = context_of(x);
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    activation_kernel<T><<<grid_for(n), kThreads, 0, c.stream>>>(
        static_cast<T*>(y.device_data_mutable()), static_cast<const T*>(x.device_data()), n, act);
  });
  check_launch(op, "activation_kernel");
  return y;
}

Tensor geglu(const Tensor& x_in) {
  const char* op = "geglu";
  Tensor x = device_input(x_in, op, "x");
  if (x.dim() < 1 || x.size(-1) % 2 != 0) fail(op, "last dim must be even ([..., 2N])", x);
  const int64_t half = x.size(-1) / 2, rows = half > 0 ? x.numel() / (2 * half) : 0;
  Shape out = x.shape();
  out.back() = half;
  Tensor y = Tensor::empty_on(x.device(), out, x.dtype());
  if (rows * half == 0) return y;
  Context& c = context_of(x);
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    geglu_kernel<T><<<grid_for(rows * half), kThreads, 0, c.stream>>>(
        static_cast<T*>(y.device_data_mutable()), static_cast<const T*>(x.device_data()), rows,
        half);
  });
  check_launch(op, "geglu_kernel");
  return y;
}

Tensor binary(BinaryOp bop, const Tensor& a_in, const Tensor& b_in) {
  const char* op = binary_name(bop);
  Tensor a = device_input(a_in, op, "a");
  Tensor b = second_operand(b_in, a, op);
  Tensor y = Tensor::empty_on(a.device(), broadcast_shape(a, b, op), a.dtype());
  launch_binary(op, bop, y, a, b);
  return y;
}

Tensor scale(const Tensor& a_in, float s) {
  const char* op = "scale";
  Tensor a = device_input(a_in, op, "a");
  Tensor y = Tensor::empty_on(a.device(), a.shape(), a.dtype());
  const int64_t n = a.numel();
  if (n == 0) return y;
  Context& c = context_of(a);
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    scale_add_kernel<T><<<grid_for(n), kThreads, 0, c.stream>>>(
        static_cast<T*>(y.device_data_mutable()), static_cast<const T*>(a.device_data()), nullptr,
        s, n);
  });
  check_launch(op, "scale_add_kernel");
  return y;
}

Tensor add_scaled(const Tensor& a_in, const Tensor& b_in, float s) {
  const char* op = "add_scaled";
  Tensor a = device_input(a_in, op, "a");
  Tensor b = second_operand(b_in, a, op);
  if (a.shape() != b.shape()) {
    fail(op, "a " + a.describe() + " and b " + b.describe() + " must have the same shape");
  }
  Tensor y = Tensor::empty_on(a.device(), a.shape(), a.dtype());
  const int64_t n = a.numel();
  if (n == 0) return y;
  Context& c = context_of(a);
  dispatch_float(a.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    scale_add_kernel<T><<<grid_for(n), kThreads, 0, c.stream>>>(
        static_cast<T*>(y.device_data_mutable()), static_cast<const T*>(a.device_data()),
        static_cast<const T*>(b.device_data()), s, n);
  });
  check_launch(op, "scale_add_kernel");
  return y;
}

void add_(Tensor& a, const Tensor& b_in) {
  const char* op = "add_";
  if (!a.defined() || a.device().type != DeviceType::CUDA || !is_float(a.dtype()) ||
      !a.is_contiguous() || a.read_only()) {
    fail(op, "a must be a writable, contiguous F32/F16/BF16 tensor on a CUDA device", a);
  }
  Tensor b = second_operand(b_in, a, op);
  if (broadcast_shape(a, b, op) != a.shape()) {
    fail(op, "b " + b.describe() + " must broadcast to a's shape " + shape_str(a.shape()));
  }
  launch_binary(op, BinaryOp::Add, a, a, b);
}

void bias_activation(Tensor& y, const Tensor& bias, int64_t channels, int64_t inner,
                     Activation act) {
  const char* op = "bias_activation";
  const int64_t n = y.numel();
  if (n == 0 || (!bias.defined() && act == Activation::None)) return;
  Context& c = context_of(y);
  dispatch_float(y.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    bias_activation_kernel<T><<<grid_for(n), kThreads, 0, c.stream>>>(
        static_cast<T*>(y.device_data_mutable()),
        bias.defined() ? static_cast<const T*>(bias.device_data()) : nullptr, n, channels, inner,
        act);
  });
  check_launch(op, "bias_activation_kernel");
}

}  // namespace ipa::ops::cuda
