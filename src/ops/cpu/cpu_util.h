// Internal helpers shared by the CPU kernels: argument checks that throw ipa::Error with the
// shapes, F32 access, and a vectorisable exp (glibc's expf does not vectorise without
// -ffast-math, and the softmax-like kernels spend most of their time in exp).
#pragma once
#include <cstdint>
#include <string>
#ifdef __FMA__
#include <immintrin.h>
#endif

#include "ops/ops.h"

namespace ipa::ops::cpu {

// "op: what (got F32[2, 3])"
[[noreturn]] void fail(const char* op, const std::string& what, const Tensor& t);
[[noreturn]] void fail(const char* op, const std::string& what);

// Contiguous F32 version of t (no copy when it already is); throws for undefined tensors and
// non-F32 dtypes, naming the op and the argument.
Tensor f32_input(const Tensor& t, const char* op, const char* arg);
void check_rank(const Tensor& t, int64_t rank, const char* op, const char* arg);

// Eight floats (one AVX2 register) as a GCC vector-extension type. Kernels that need exp
// use these explicitly: with the default -ftrapping-math GCC will not if-convert float
// comparisons, so scalar code with range checks never vectorises.
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

inline v8f load8(const float* p) {
  v8f v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline void store8(float* p, v8f v) {
  __builtin_memcpy(p, &v, sizeof v);
}
inline v8f splat8(float f) {
  return v8f{f, f, f, f, f, f, f, f};
}

// a·b + c with one rounding where the CPU has FMA. Spelled out because -std=c++20 (ISO mode)
// turns off GCC's automatic contraction, and the micro-kernels need the FMA throughput.
inline v8f fma8(v8f a, v8f b, v8f c) {
#ifdef __FMA__
  return _mm256_fmadd_ps(a, b, c);
#else
  return a * b + c;
#endif
}

// Lane-wise max(a, b) in one instruction; where either is NaN the result is b (x86 maxps).
inline v8f max8v(v8f a, v8f b) {
#ifdef __AVX__
  return _mm256_max_ps(a, b);
#else
  return a > b ? a : b;
#endif
}

inline v8f min8v(v8f a, v8f b) {  // lane-wise min; b where either is NaN (x86 minps)
#ifdef __AVX__
  return _mm256_min_ps(a, b);
#else
  return a < b ? a : b;
#endif
}

inline v8f abs8(v8f x) {
  return (v8f)((v8i)x & 0x7fffffff);
}

// exp(x), ~2 ulp (measured in test_ops_vector_math.cpp). Cody-Waite range reduction x = n·ln2 + r,
// |r| ≤ ln2/2, then a degree-7 Taylor polynomial (truncation error < 2e-9 relative on that
// interval). Inputs below -87.3 give exactly 0 (so exp(-inf) = 0), above 88.72 (float overflow)
// +inf; NaN stays NaN.
inline v8f exp8(v8f x) {
  const v8f kMagic = splat8(12582912.f);  // 1.5 · 2^23: adding it rounds to an integer
  const v8f kHi = splat8(88.72f), kLo = splat8(-87.3f);
  v8f xc = x > kHi ? kHi : x;
  xc = xc < kLo ? kLo : xc;
  const v8f t = xc * 1.44269504088896341f + kMagic;
  const v8f n = t - kMagic;
  const v8i ni = (v8i)t - (v8i)kMagic;
  v8f r = xc - n * 0.693145751953125f;  // ln 2 split: exact high part
  r = r - n * 1.42860682030941723e-06f;
  // Estrin's scheme: 3 dependent FMAs instead of Horner's 7 (GELU/SiLU loops are latency-bound).
  const v8f r2 = r * r, r4 = r2 * r2;
  const v8f lo = fma8(r2, fma8(r, splat8(1.f / 6.f), splat8(0.5f)), r + 1.f);
  const v8f hi = fma8(r2, fma8(r, splat8(1.f / 5040.f), splat8(1.f / 720.f)),
                      fma8(r, splat8(1.f / 120.f), splat8(1.f / 24.f)));
  const v8f p = fma8(r4, hi, lo);
  // 2^n as two factors: n reaches 128 just below the overflow threshold.
  const v8i n1 = ni >> 1, n2 = ni - n1;
  v8f result = p * (v8f)((n1 + 127) << 23) * (v8f)((n2 + 127) << 23);
  result = x < kLo ? splat8(0.f) : result;
  result = x > splat8(88.72f) ? splat8(__builtin_inff()) : result;
  return result;
}

// exp(x) for softmax arguments x = s - max <= 0, about 10 instructions fewer than exp8: no
// overflow handling, FMA range reduction, degree-6 Taylor polynomial (truncation < 1.3e-7
// relative on |r| <= ln2/2; total error <= 2 ulp). x < -87.3 (and -inf) gives exactly 0, NaN
// stays NaN. Positive x below 88 are still exact to 2 ulp.
inline v8f exp8_nonpos(v8f x) {
  const v8f kMagic = splat8(12582912.f);  // 1.5 · 2^23
  const v8f kLo = splat8(-87.3f);
  const v8f xc = max8v(kLo, x);  // NaN passes through
  const v8f t = fma8(xc, splat8(1.44269504088896341f), kMagic);
  const v8f n = t - kMagic;
  const v8i ni = (v8i)t - (v8i)kMagic;
  v8f r = fma8(n, splat8(-0.693145751953125f), xc);
  r = fma8(n, splat8(-1.42860682030941723e-06f), r);
  v8f p = splat8(1.f / 720.f);
  p = fma8(p, r, splat8(1.f / 120.f));
  p = fma8(p, r, splat8(1.f / 24.f));
  p = fma8(p, r, splat8(1.f / 6.f));
  p = fma8(p, r, splat8(0.5f));
  p = fma8(p, r, splat8(1.f));
  p = fma8(p, r, splat8(1.f));
  const v8f result = p * (v8f)((ni + 127) << 23);
  return (v8f)((v8i)result & ~(v8i)(x < kLo));
}

// t·exp(P(t) - a²) = erfc(a) for a in [0, 10], with a² passed exactly as a2 + a2lo: t = 1/(1 + a/2)
// and P the degree-9 Chebyshev fit of Numerical Recipes' erfcc (fractional error < 1.2e-7 in
// exact arithmetic). P - a² is carried as a two-float sum, so the far tail (a² ~ 80, where one
// float ulp of the exponent is 4e-6 relative) keeps its relative accuracy.
inline v8f erfc_pos8(v8f a, v8f a2, v8f a2lo) {
  const v8f t = 1.f / fma8(a, splat8(0.5f), splat8(1.f));
  // Estrin's scheme (4 dependent steps instead of 9): the GELU loop is latency-bound.
  const v8f t2 = t * t, t4 = t2 * t2;
  const v8f q01 = fma8(t, splat8(1.00002368f), splat8(-1.26551223f));
  const v8f q23 = fma8(t, splat8(0.09678418f), splat8(0.37409196f));
  const v8f q45 = fma8(t, splat8(0.27886807f), splat8(-0.18628806f));
  const v8f q67 = fma8(t, splat8(1.48851587f), splat8(-1.13520398f));
  const v8f q89 = fma8(t, splat8(0.17087277f), splat8(-0.82215223f));
  const v8f hi = fma8(t4, q89, fma8(t2, q67, q45));
  const v8f p = fma8(t4, hi, fma8(t2, q23, q01));
  const v8f s = p - a2, bb = s - p;
  const v8f e = (p - (s - bb)) - (a2 + bb);  // s + e = p - a2 exactly (TwoSum)
  return t * exp8(s) * (1.f + (e - a2lo));
}

// erfc(z), any sign, relative error below 1e-6 down to the float underflow (measured against
// std::erfc in test_ops_vector_math.cpp). erfc(-a) = 2 - erfc(a); NaN stays NaN, ±inf gives
// 0 / 2.
inline v8f erfc8(v8f z) {
  const v8f a = min8v(splat8(10.f), abs8(z));  // erfc(10) underflows float; keeps a² finite
  const v8f a2 = a * a;
  const v8f r = erfc_pos8(a, a2, fma8(a, a, -a2));
  return z < 0.f ? 2.f - r : r;
}

// erf(z), relative error below 1e-6 everywhere (including near 0, where 1 - erfc would cancel:
// |z| < 0.5 uses the odd Taylor series to z^11, truncation < 3e-8 relative).
inline v8f erf8(v8f z) {
  const v8f z2 = z * z;
  v8f p = splat8(-1.f / 1320.f);
  p = fma8(p, z2, splat8(1.f / 216.f));
  p = fma8(p, z2, splat8(-1.f / 42.f));
  p = fma8(p, z2, splat8(1.f / 10.f));
  p = fma8(p, z2, splat8(-1.f / 3.f));
  p = fma8(p, z2, splat8(1.f));
  const v8f small = 1.12837916709551257f * z * p;
  const v8f big = 1.f - erfc8(abs8(z));
  const v8f sign = (v8f)((v8i)z & (int32_t)0x80000000);
  const v8f large = (v8f)((v8i)big | (v8i)sign);
  return abs8(z) < 0.5f ? small : large;
}

// dst[i] = f(src[i]) for i < n with an 8-wide functor (src may equal dst).
template <typename F8>
inline void map8(const float* src, float* dst, int64_t n, F8 f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) store8(dst + i, f(load8(src + i)));
  if (i < n) {
    float tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t j = i; j < n; ++j) tmp[j - i] = src[j];
    store8(tmp, f(load8(tmp)));
    for (int64_t j = i; j < n; ++j) dst[j] = tmp[j - i];
  }
}

// max(x[0..n)), -inf for n == 0. NaNs are skipped unless all are NaN (callers feed finite or
// -inf scores).
inline float max8(const float* x, int64_t n) {
  v8f m = splat8(-__builtin_inff());
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v8f v = load8(x + i);
    m = v > m ? v : m;
  }
  float r = -__builtin_inff();
  for (int j = 0; j < 8; ++j) r = m[j] > r ? m[j] : r;
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

inline float exp_f32(float x) {
  return exp8(splat8(x))[0];
}

}  // namespace ipa::ops::cpu
