// Pointwise activations, OpenMP-parallel. GELU is exact (erf based); the others use the
// vectorisable exp in cpu_util.h.
#include <cmath>

#include "ops/cpu/cpu_util.h"

namespace ipa::ops {

using namespace cpu;

namespace {

constexpr int64_t kGrain = 1 << 14;  // elements below which threads cost more than they save

// 0.5·x·(1 + erf(x/√2)) written as 0.5·x·erfc(-x/√2): same value, but stays accurate in
// relative terms for large negative x where 1 + erf cancels.
inline float gelu_erf(float x) {
  return 0.5f * x * std::erfc(-x * 0.70710678118654752f);
}

inline float gelu_tanh_f(float x) {
  const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
  // tanh(u) = 1 - 2 / (exp(2u) + 1): exact limits at ±inf, ~1e-7 absolute error near 0.
  const float th = 1.f - 2.f / (exp_f32(2.f * u) + 1.f);
  return 0.5f * x * (1.f + th);
}

inline float silu_f(float x) {
  return x / (1.f + exp_f32(-x));
}
inline float quick_gelu_f(float x) {
  return x / (1.f + exp_f32(-1.702f * x));
}

template <typename F>
Tensor map(const Tensor& x_in, const char* op, F f) {
  Tensor x = f32_input(x_in, op, "x");
  Tensor y = Tensor::empty(x.shape());
  const float* s = x.data<float>();
  float* d = y.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > kGrain)
  for (int64_t i = 0; i < n; ++i) d[i] = f(s[i]);
  return y;
}

}  // namespace

Tensor gelu(const Tensor& x) {
  return map(x, "gelu", gelu_erf);
}
Tensor gelu_tanh(const Tensor& x) {
  return map(x, "gelu_tanh", gelu_tanh_f);
}
Tensor quick_gelu(const Tensor& x) {
  return map(x, "quick_gelu", quick_gelu_f);
}
Tensor silu(const Tensor& x) {
  return map(x, "silu", silu_f);
}

Tensor activation(const Tensor& x, Activation act) {
  switch (act) {
    case Activation::None:
      return f32_input(x, "activation", "x");
    case Activation::GELU:
      return gelu(x);
    case Activation::GELUTanh:
      return gelu_tanh(x);
    case Activation::QuickGELU:
      return quick_gelu(x);
    case Activation::SiLU:
      return silu(x);
  }
  fail("activation", "unknown activation");
}

Tensor geglu(const Tensor& x_in) {
  const char* op = "geglu";
  Tensor x = f32_input(x_in, op, "x");
  if (x.dim() < 1 || x.size(-1) % 2 != 0) fail(op, "last dim must be even ([..., 2N])", x);
  const int64_t two_n = x.size(-1), N = two_n / 2, rows = N > 0 ? x.numel() / two_n : 0;
  Shape out = x.shape();
  out.back() = N;
  Tensor y = Tensor::empty(out);
  const float* s = x.data<float>();
  float* d = y.data<float>();
#pragma omp parallel for schedule(static) if (rows * N > kGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const float* h = s + r * two_n;
    const float* gate = h + N;
    float* o = d + r * N;
    for (int64_t i = 0; i < N; ++i) o[i] = h[i] * gelu_erf(gate[i]);
  }
  return y;
}

}  // namespace ipa::ops
