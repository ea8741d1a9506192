// Pointwise activations and GEGLU: argument checks and the OpenMP split; the row kernels are
// pointwise_kernels.h's, for the ISA the CPU runs. GELU is exact (erf based, error < 1e-6
// relative).
#include <algorithm>

#include "ops/cpu/cpu_util.h"
#include "ops/cpu/pointwise_kernels.h"
#include "ops/profile.h"

namespace ipa::ops {

using namespace cpu;

namespace {

constexpr int64_t kGrain = 1 << 14;  // elements below which threads cost more than they save

// y = act(x), in chunks so every thread runs whole vectors. A channels-last x is mapped over
// its storage and y keeps that layout.
Tensor map_activation(const Tensor& x_in, const char* op, PointwiseActivation act) {
  profile::OpScope prof(op);
  const Tensor x = f32_input_keep_layout(x_in, op, "x");
  Tensor y = empty_like_layout(x);
  const float* s = static_cast<const float*>(x.raw());
  float* d = static_cast<float*>(y.raw_mutable());
  const auto& kernels = pointwise_kernels(active_isa());
  const int64_t n = x.numel(), chunk = 4096, chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n > kGrain)
  for (int64_t c = 0; c < chunks; ++c) {
    kernels.activation(act, s + c * chunk, d + c * chunk, std::min(chunk, n - c * chunk));
  }
  return y;
}

}  // namespace

Tensor gelu(const Tensor& x) {
  if (Backend* be = backend_for("gelu", {&x})) return be->activation(x, Activation::GELU);
  return map_activation(x, "gelu", PointwiseActivation::GELU);
}
Tensor gelu_tanh(const Tensor& x) {
  if (Backend* be = backend_for("gelu_tanh", {&x})) return be->activation(x, Activation::GELUTanh);
  return map_activation(x, "gelu_tanh", PointwiseActivation::GELUTanh);
}
Tensor quick_gelu(const Tensor& x) {
  if (Backend* be = backend_for("quick_gelu", {&x}))
    return be->activation(x, Activation::QuickGELU);
  return map_activation(x, "quick_gelu", PointwiseActivation::QuickGELU);
}
Tensor silu(const Tensor& x) {
  if (Backend* be = backend_for("silu", {&x})) return be->activation(x, Activation::SiLU);
  return map_activation(x, "silu", PointwiseActivation::SiLU);
}

Tensor activation(const Tensor& x, Activation act) {
  if (Backend* be = backend_for("activation", {&x})) return be->activation(x, act);
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
  if (Backend* be = backend_for("geglu", {&x_in})) return be->geglu(x_in);
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
  const auto& kernels = pointwise_kernels(active_isa());
#pragma omp parallel for schedule(static) if (rows * N > kGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const float* h = s + r * two_n;
    kernels.geglu(h, h + N, d + r * N, N);
  }
  return y;
}

}  // namespace ipa::ops
