// Our row kernels for the memory-bound ops (activations, GEGLU, group and layer norm, softmax),
// written once over a vector width (simd.h) and built once per instruction set:
// pointwise_avx2.cpp and pointwise_avx512.cpp. The ops (activations.cpp, norms.cpp) split the
// work over OpenMP threads and call the table of the variant isa.h chose. Every element is
// computed by the same lane-wise formula and every sum in the same order at both widths, so the
// variants give identical results (tests/unit/test_ops_pointwise.cpp checks that too).
#pragma once
#include <cmath>
#include <cstdint>

#include "ops/cpu/isa.h"
#include "ops/cpu/vec_math.h"

namespace ipa::ops::cpu {

enum class PointwiseActivation { GELU, GELUTanh, QuickGELU, SiLU };

struct PointwiseKernels {
  // dst[i] = act(src[i]), i < n.
  void (*activation)(PointwiseActivation act, const float* src, float* dst, int64_t n);
  // out[i] = h[i] · gelu(gate[i]), i < n.
  void (*geglu)(const float* h, const float* gate, float* out, int64_t n);
  // One group of a group norm: `channels` rows of `spatial` values normalised together, then
  // per channel · gamma[c] + beta[c] (null: 1 and 0), then SiLU when `silu`.
  void (*group_norm_group)(const float* src, float* dst, int64_t channels, int64_t spatial,
                           const float* gamma, const float* beta, float eps, bool silu);
  // Channels-last group norm's last pass: `pixels` rows of `channels` values, each value
  // x · a[c] + b[c] (a and b fold the statistics and the affine), then SiLU when `silu`.
  // `stream`: non-temporal stores (for outputs far larger than the caches), used where dst
  // and the rows are vector-aligned, fenced before returning.
  void (*scale_shift_rows)(const float* src, float* dst, int64_t pixels, int64_t channels,
                           const float* a, const float* b, bool silu, bool stream);
  // One row of a layer norm over n values (gamma/beta may be null).
  void (*layer_norm_row)(const float* src, float* dst, int64_t n, const float* gamma,
                         const float* beta, float eps);
  // One row of a softmax over n values.
  void (*softmax_row)(const float* src, float* dst, int64_t n);
};

// The kernels built for `isa` (pointwise_dispatch.cpp).
const PointwiseKernels& pointwise_kernels(Isa isa);

namespace {

// 0.5·x·(1 + erf(x/√2)) written as 0.5·x·erfc(-x/√2): same value, but stays accurate in
// relative terms for large negative x where 1 + erf cancels. The erfc argument's square x²/2 is
// formed exactly from x (FMA) rather than from the rounded x/√2, whose 3e-8 error would grow to
// 1e-5 relative in the far negative tail.
template <class T>
typename T::V vgelu(typename T::V x) {
  using V = typename T::V;
  const V xc = T::min(T::splat(14.2f), vabs<T>(x));  // |x|/√2 <= 10, where erfc underflows
  const V x2 = xc * xc, x2lo = T::fma(xc, xc, -x2);
  const V r = verfc_pos<T>(xc * 0.70710678118654752f, 0.5f * x2, 0.5f * x2lo);  // erfc(|x|/√2)
  return 0.5f * x * (x < 0.f ? r : 2.f - r);
}

// tanh(u) = 1 - 2 / (exp(2u) + 1): exact limits at ±inf, ~1e-7 absolute error near 0.
template <class T>
typename T::V vgelu_tanh(typename T::V x) {
  using V = typename T::V;
  const V u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
  const V th = 1.f - 2.f / (vexp<T>(2.f * u) + 1.f);
  return 0.5f * x * (1.f + th);
}

template <class T>
typename T::V vsilu(typename T::V x) {
  return x / (1.f + vexp<T>(-x));
}

template <class T>
typename T::V vquick_gelu(typename T::V x) {
  return x / (1.f + vexp<T>(-1.702f * x));
}

template <class T>
void activation_kernel(PointwiseActivation act, const float* src, float* dst, int64_t n) {
  using V = typename T::V;
  switch (act) {
    case PointwiseActivation::GELU:
      return vmap<T>(src, dst, n, [](V x) { return vgelu<T>(x); });
    case PointwiseActivation::GELUTanh:
      return vmap<T>(src, dst, n, [](V x) { return vgelu_tanh<T>(x); });
    case PointwiseActivation::QuickGELU:
      return vmap<T>(src, dst, n, [](V x) { return vquick_gelu<T>(x); });
    case PointwiseActivation::SiLU:
      return vmap<T>(src, dst, n, [](V x) { return vsilu<T>(x); });
  }
}

template <class T>
void geglu_kernel(const float* h, const float* gate, float* out, int64_t n) {
  constexpr int W = T::W;
  int64_t i = 0;
  for (; i + W <= n; i += W) T::store(out + i, T::load(h + i) * vgelu<T>(T::load(gate + i)));
  if (i < n) {
    float hv[W] = {}, gv[W] = {}, ov[W];
    for (int64_t j = i; j < n; ++j) hv[j - i] = h[j], gv[j - i] = gate[j];
    T::store(ov, T::load(hv) * vgelu<T>(T::load(gv)));
    for (int64_t j = i; j < n; ++j) out[j] = ov[j - i];
  }
}

// Statistics are two-pass with double-accumulated sums, so they match PyTorch's float results
// to rounding.
template <class T>
void group_norm_group_kernel(const float* src, float* dst, int64_t channels, int64_t spatial,
                             const float* gamma, const float* beta, float eps, bool silu) {
  using V = typename T::V;
  const int64_t n = channels * spatial;
  if (n == 0) return;
  const float mean = static_cast<float>(sum(src, n) / n);
  const double var = sum_sq_dev(src, n, mean) / n;
  const float rstd = static_cast<float>(1.0 / std::sqrt(var + eps));
  for (int64_t c = 0; c < channels; ++c) {
    const float a = rstd * (gamma ? gamma[c] : 1.f);
    const float b = (beta ? beta[c] : 0.f) - mean * a;
    const float* s = src + c * spatial;
    float* d = dst + c * spatial;
    if (silu) {
      vmap<T>(s, d, spatial, [a, b](V x) {
        const V v = x * a + b;
        return v / (1.f + vexp<T>(-v));
      });
    } else {
      vmap<T>(s, d, spatial, [a, b](V x) { return x * a + b; });
    }
  }
}

template <class T>
void scale_shift_rows_kernel(const float* src, float* dst, int64_t pixels, int64_t channels,
                             const float* a, const float* b, bool silu, bool stream) {
  using V = typename T::V;
  constexpr int W = T::W;
  // The same lane-wise formula as group_norm_group_kernel.
  auto f = [silu](V x, V va, V vb) {
    const V v = x * va + vb;
    return silu ? v / (1.f + vexp<T>(-v)) : v;
  };
  if (stream && channels % W == 0 && reinterpret_cast<uintptr_t>(dst) % (W * 4) == 0) {
    for (int64_t p = 0; p < pixels; ++p) {
      const float* s = src + p * channels;
      float* d = dst + p * channels;
      for (int64_t c = 0; c < channels; c += W) {
        T::stream(d + c, f(T::load(s + c), T::load(a + c), T::load(b + c)));
      }
    }
    stream_fence();
    return;
  }
  for (int64_t p = 0; p < pixels; ++p) {
    const float* s = src + p * channels;
    float* d = dst + p * channels;
    int64_t c = 0;
    for (; c + W <= channels; c += W) {
      T::store(d + c, f(T::load(s + c), T::load(a + c), T::load(b + c)));
    }
    if (c < channels) {
      float sv[W] = {}, av[W] = {}, bv[W] = {}, ov[W];
      for (int64_t j = c; j < channels; ++j) sv[j - c] = s[j], av[j - c] = a[j], bv[j - c] = b[j];
      T::store(ov, f(T::load(sv), T::load(av), T::load(bv)));
      for (int64_t j = c; j < channels; ++j) d[j] = ov[j - c];
    }
  }
}

template <class T>
void layer_norm_row_kernel(const float* s, float* d, int64_t n, const float* gamma,
                           const float* beta, float eps) {
  using V = typename T::V;
  constexpr int W = T::W;
  if (n == 0) return;
  const float mean = static_cast<float>(sum(s, n) / n);
  const double var = sum_sq_dev(s, n, mean) / n;
  const float rstd = static_cast<float>(1.0 / std::sqrt(var + eps));
  int64_t i = 0;
  if (gamma && beta) {
    const V vm = T::splat(mean), vr = T::splat(rstd);
    for (; i + W <= n; i += W) {
      T::store(d + i, (T::load(s + i) - vm) * vr * T::load(gamma + i) + T::load(beta + i));
    }
  }
  for (; i < n; ++i) {
    d[i] = (s[i] - mean) * rstd * (gamma ? gamma[i] : 1.f) + (beta ? beta[i] : 0.f);
  }
}

template <class T>
void softmax_row_kernel(const float* s, float* d, int64_t n) {
  using V = typename T::V;
  const float m = vmax_reduce<T>(s, n);
  vmap<T>(s, d, n, [m](V x) { return vexp<T>(x - m); });
  const float inv = static_cast<float>(1.0 / sum(d, n));
  vmap<T>(d, d, n, [inv](V x) { return x * inv; });
}

template <class T>
constexpr PointwiseKernels make_pointwise_kernels() {
  return {&activation_kernel<T>,       &geglu_kernel<T>,          &group_norm_group_kernel<T>,
          &scale_shift_rows_kernel<T>, &layer_norm_row_kernel<T>, &softmax_row_kernel<T>};
}

}  // namespace
}  // namespace ipa::ops::cpu
