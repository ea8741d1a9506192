// Vector math at any width, for the kernels of simd.h: exp, erf/erfc (glibc's expf and erff do
// not vectorise without -ffast-math, and the softmax and GELU kernels spend most of their time
// in them), map and reductions. Written once over a traits struct T (simd.h); every lane gives
// the same result at every width, so the AVX2 and AVX-512 builds of a kernel agree bit for bit.
// Internal linkage throughout (see simd.h).
#pragma once
#include <cstdint>

#include "ops/cpu/simd.h"

namespace ipa::ops::cpu {
namespace {

template <class T>
typename T::V vabs(typename T::V x) {
  using I = typename T::I;
  return (typename T::V)((I)x & 0x7fffffff);
}

// exp(x), ~2 ulp (measured in test_ops_vector_math.cpp). Cody-Waite range reduction
// x = n·ln2 + r, |r| ≤ ln2/2, then a degree-7 Taylor polynomial (truncation error < 2e-9
// relative on that interval). Inputs below -87.3 give exactly 0 (so exp(-inf) = 0), above 88.72
// (float overflow) +inf; NaN stays NaN.
template <class T>
typename T::V vexp(typename T::V x) {
  using V = typename T::V;
  using I = typename T::I;
  const V kMagic = T::splat(12582912.f);  // 1.5 · 2^23: adding it rounds to an integer
  const V kHi = T::splat(88.72f), kLo = T::splat(-87.3f);
  V xc = x > kHi ? kHi : x;
  xc = xc < kLo ? kLo : xc;
  const V t = xc * 1.44269504088896341f + kMagic;
  const V n = t - kMagic;
  const I ni = (I)t - (I)kMagic;
  V r = xc - n * 0.693145751953125f;  // ln 2 split: exact high part
  r = r - n * 1.42860682030941723e-06f;
  // Estrin's scheme: 3 dependent FMAs instead of Horner's 7 (GELU/SiLU loops are latency-bound).
  const V r2 = r * r, r4 = r2 * r2;
  const V lo = T::fma(r2, T::fma(r, T::splat(1.f / 6.f), T::splat(0.5f)), r + 1.f);
  const V hi = T::fma(r2, T::fma(r, T::splat(1.f / 5040.f), T::splat(1.f / 720.f)),
                      T::fma(r, T::splat(1.f / 120.f), T::splat(1.f / 24.f)));
  const V p = T::fma(r4, hi, lo);
  // 2^n as two factors: n reaches 128 just below the overflow threshold.
  const I n1 = ni >> 1, n2 = ni - n1;
  V result = p * (V)((n1 + 127) << 23) * (V)((n2 + 127) << 23);
  result = x < kLo ? T::splat(0.f) : result;
  result = x > T::splat(88.72f) ? T::splat(__builtin_inff()) : result;
  return result;
}

// 2^y for softmax arguments y = s - max <= 0 in log2 units (the attention kernel folds log2(e)
// into its scale), 9 vector instructions: y = n + f with n = round(y), |f| <= 1/2, 2^f by a
// degree-5 polynomial 1 + f·q(f), q the Remez minimax fit for the relative error (9.1e-8 in
// exact arithmetic; exactly 1 at f = 0; 1.7e-7 measured in float), scaled by 2^n (vscalefps on
// AVX-512, exponent bits on AVX2). y < -126 (and -inf) gives exactly 0, so the scaling never
// leaves the normal range; NaN stays NaN. Same result bit for bit on every ISA.
template <class T>
typename T::V vexp2_nonpos(typename T::V y) {
  using V = typename T::V;
  const V n = T::round(y);
  const V f = y - n;
  V p = T::splat(0.0013264727f);
  p = T::fma(p, f, T::splat(0.0096715126f));
  p = T::fma(p, f, T::splat(0.055507337f));
  p = T::fma(p, f, T::splat(0.24022242f));
  p = T::fma(p, f, T::splat(0.69314698f));
  p = T::fma(p, f, T::splat(1.f));
  const V r = T::mul_pow2(p, n);
  return y < -126.f ? T::splat(0.f) : r;  // false for NaN: keeps r (NaN)
}

// t·exp(P(t) - a²) = erfc(a) for a in [0, 10], with a² passed exactly as a2 + a2lo:
// t = 1/(1 + a/2) and P the degree-9 Chebyshev fit of Numerical Recipes' erfcc (fractional error
// < 1.2e-7 in exact arithmetic). P - a² is carried as a two-float sum, so the far tail (a² ~ 80,
// where one float ulp of the exponent is 4e-6 relative) keeps its relative accuracy.
template <class T>
typename T::V verfc_pos(typename T::V a, typename T::V a2, typename T::V a2lo) {
  using V = typename T::V;
  const V t = 1.f / T::fma(a, T::splat(0.5f), T::splat(1.f));
  // Estrin's scheme (4 dependent steps instead of 9): the GELU loop is latency-bound.
  const V t2 = t * t, t4 = t2 * t2;
  const V q01 = T::fma(t, T::splat(1.00002368f), T::splat(-1.26551223f));
  const V q23 = T::fma(t, T::splat(0.09678418f), T::splat(0.37409196f));
  const V q45 = T::fma(t, T::splat(0.27886807f), T::splat(-0.18628806f));
  const V q67 = T::fma(t, T::splat(1.48851587f), T::splat(-1.13520398f));
  const V q89 = T::fma(t, T::splat(0.17087277f), T::splat(-0.82215223f));
  const V hi = T::fma(t4, q89, T::fma(t2, q67, q45));
  const V p = T::fma(t4, hi, T::fma(t2, q23, q01));
  const V s = p - a2, bb = s - p;
  const V e = (p - (s - bb)) - (a2 + bb);  // s + e = p - a2 exactly (TwoSum)
  return t * vexp<T>(s) * (1.f + (e - a2lo));
}

// erfc(z), any sign, relative error below 1e-6 down to the float underflow (measured against
// std::erfc in test_ops_vector_math.cpp). erfc(-a) = 2 - erfc(a); NaN stays NaN, ±inf gives
// 0 / 2.
template <class T>
typename T::V verfc(typename T::V z) {
  using V = typename T::V;
  const V a = T::min(T::splat(10.f), vabs<T>(z));  // erfc(10) underflows float; keeps a² finite
  const V a2 = a * a;
  const V r = verfc_pos<T>(a, a2, T::fma(a, a, -a2));
  return z < 0.f ? 2.f - r : r;
}

// erf(z), relative error below 1e-6 everywhere (including near 0, where 1 - erfc would cancel:
// |z| < 0.5 uses the odd Taylor series to z^11, truncation < 3e-8 relative).
template <class T>
typename T::V verf(typename T::V z) {
  using V = typename T::V;
  using I = typename T::I;
  const V z2 = z * z;
  V p = T::splat(-1.f / 1320.f);
  p = T::fma(p, z2, T::splat(1.f / 216.f));
  p = T::fma(p, z2, T::splat(-1.f / 42.f));
  p = T::fma(p, z2, T::splat(1.f / 10.f));
  p = T::fma(p, z2, T::splat(-1.f / 3.f));
  p = T::fma(p, z2, T::splat(1.f));
  const V small = 1.12837916709551257f * z * p;
  const V big = 1.f - verfc<T>(vabs<T>(z));
  const V sign = (V)((I)z & (int32_t)0x80000000);
  const V large = (V)((I)big | (I)sign);
  return vabs<T>(z) < 0.5f ? small : large;
}

// dst[i] = f(src[i]) for i < n with a functor on T::V (src may equal dst).
template <class T, typename F>
inline void vmap(const float* src, float* dst, int64_t n, F f) {
  constexpr int W = T::W;
  int64_t i = 0;
  for (; i + W <= n; i += W) T::store(dst + i, f(T::load(src + i)));
  if (i < n) {
    float tmp[W] = {};
    for (int64_t j = i; j < n; ++j) tmp[j - i] = src[j];
    T::store(tmp, f(T::load(tmp)));
    for (int64_t j = i; j < n; ++j) dst[j] = tmp[j - i];
  }
}

// max(x[0..n)), -inf for n == 0. NaNs are skipped unless all are NaN (callers feed finite or
// -inf scores).
template <class T>
inline float vmax_reduce(const float* x, int64_t n) {
  using V = typename T::V;
  V m = T::splat(-__builtin_inff());
  int64_t i = 0;
  for (; i + T::W <= n; i += T::W) {
    const V v = T::load(x + i);
    m = v > m ? v : m;
  }
  float r = -__builtin_inff();
  for (int j = 0; j < T::W; ++j) r = m[j] > r ? m[j] : r;
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

// Accurate float sums that GCC still vectorises: 8 float lanes over short blocks (no
// reassociation needed, so no -ffast-math), block sums accumulated in double. Safe against large
// means and long rows. Always 8 lanes, whatever the ISA, so every variant sums in the same order.
constexpr int64_t kReduceBlock = 512;

// Σ f(x[i]) for i < n.
template <typename F>
inline double block_sum(const float* x, int64_t n, F f) {
  double total = 0;
  for (int64_t b = 0; b < n; b += kReduceBlock) {
    const int64_t e = b + kReduceBlock < n ? b + kReduceBlock : n;
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = b;
    for (; i + 8 <= e; i += 8) {
      for (int j = 0; j < 8; ++j) lane[j] += f(x[i + j]);
    }
    float tail = 0;
    for (; i < e; ++i) tail += f(x[i]);
    double s = tail;
    for (int j = 0; j < 8; ++j) s += lane[j];
    total += s;
  }
  return total;
}

inline double sum(const float* x, int64_t n) {
  return block_sum(x, n, [](float v) { return v; });
}

// Σ (x - mean)², the second pass of a two-pass variance.
inline double sum_sq_dev(const float* x, int64_t n, float mean) {
  return block_sum(x, n, [mean](float v) {
    const float d = v - mean;
    return d * d;
  });
}

}  // namespace
}  // namespace ipa::ops::cpu
