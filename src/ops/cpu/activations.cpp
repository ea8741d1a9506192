// Pointwise activations, OpenMP-parallel, 8 lanes at a time with the vector exp/erfc in
// cpu_util.h. GELU is exact (erf based, error < 1e-6 relative).
#include <algorithm>
#include <cmath>

#include "ops/cpu/cpu_util.h"
#include "ops/profile.h"

namespace ipa::ops {

using namespace cpu;

namespace {

constexpr int64_t kGrain = 1 << 14;  // elements below which threads cost more than they save

// 0.5·x·(1 + erf(x/√2)) written as 0.5·x·erfc(-x/√2): same value, but stays accurate in
// relative terms for large negative x where 1 + erf cancels.
// The erfc argument's square x²/2 is formed exactly from x (FMA) rather than from the rounded
// x/√2, whose 3e-8 error would grow to 1e-5 relative in the far negative tail.
inline v8f gelu8(v8f x) {
  const v8f xc = min8v(splat8(14.2f), abs8(x));  // |x|/√2 <= 10, where erfc underflows
  const v8f x2 = xc * xc, x2lo = fma8(xc, xc, -x2);
  const v8f r = erfc_pos8(xc * 0.70710678118654752f, 0.5f * x2, 0.5f * x2lo);  // erfc(|x|/√2)
  return 0.5f * x * (x < 0.f ? r : 2.f - r);
}

// tanh(u) = 1 - 2 / (exp(2u) + 1): exact limits at ±inf, ~1e-7 absolute error near 0.
inline v8f gelu_tanh8(v8f x) {
  const v8f u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
  const v8f th = 1.f - 2.f / (exp8(2.f * u) + 1.f);
  return 0.5f * x * (1.f + th);
}
inline v8f silu8(v8f x) {
  return x / (1.f + exp8(-x));
}
inline v8f quick_gelu8(v8f x) {
  return x / (1.f + exp8(-1.702f * x));
}

// y = f(x) with an 8-wide functor, in chunks so every thread runs whole vectors.
template <typename F8>
Tensor map_v8(const Tensor& x_in, const char* op, F8 f) {
  profile::OpScope prof(op);
  Tensor x = f32_input(x_in, op, "x");
  Tensor y = Tensor::empty(x.shape());
  const float* s = x.data<float>();
  float* d = y.data<float>();
  const int64_t n = x.numel(), chunk = 4096, chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n > kGrain)
  for (int64_t c = 0; c < chunks; ++c) {
    map8(s + c * chunk, d + c * chunk, std::min(chunk, n - c * chunk), f);
  }
  return y;
}

}  // namespace

Tensor gelu(const Tensor& x) {
  return map_v8(x, "gelu", gelu8);
}
Tensor gelu_tanh(const Tensor& x) {
  return map_v8(x, "gelu_tanh", gelu_tanh8);
}
Tensor quick_gelu(const Tensor& x) {
  return map_v8(x, "quick_gelu", quick_gelu8);
}
Tensor silu(const Tensor& x) {
  return map_v8(x, "silu", silu8);
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
  profile::OpScope prof("geglu");
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
    int64_t i = 0;
    for (; i + 8 <= N; i += 8) store8(o + i, load8(h + i) * gelu8(load8(gate + i)));
    if (i < N) {
      float hv[8] = {}, gv[8] = {}, ov[8];
      for (int64_t j = i; j < N; ++j) hv[j - i] = h[j], gv[j - i] = gate[j];
      store8(ov, load8(hv) * gelu8(load8(gv)));
      for (int64_t j = i; j < N; ++j) o[j] = ov[j - i];
    }
  }
  return y;
}

}  // namespace ipa::ops
