// Internal helpers shared by the CPU kernels: argument checks that throw ipa::Error with the
// shapes, F32 access, and a vectorisable exp (glibc's expf does not vectorise without
// -ffast-math, and the softmax-like kernels spend most of their time in exp).
#pragma once
#include <bit>
#include <cstdint>
#include <string>

#include "ops/ops.h"

namespace ipa::ops::cpu {

// "op: what (got F32[2, 3])"
[[noreturn]] void fail(const char* op, const std::string& what, const Tensor& t);
[[noreturn]] void fail(const char* op, const std::string& what);

// Contiguous F32 version of t (no copy when it already is); throws for undefined tensors and
// non-F32 dtypes, naming the op and the argument.
Tensor f32_input(const Tensor& t, const char* op, const char* arg);
void check_rank(const Tensor& t, int64_t rank, const char* op, const char* arg);

// exp(x) for float, ~2 ulp, written so that GCC vectorises loops that call it.
// Cody-Waite range reduction x = n·ln2 + r, |r| ≤ ln2/2, then a degree-7 Taylor polynomial
// (truncation error < 2e-9 relative on that interval). Inputs below -87.3 return exactly 0,
// inputs above 88.72 (where float exp overflows) return +inf.
inline float exp_f32(float x) {
  const float kMagic = 12582912.f;  // 1.5 · 2^23: adding it rounds to an integer
  const float kLog2e = 1.44269504088896341f;
  const float kLn2Hi = 0.693145751953125f;  // exactly representable high part of ln 2
  const float kLn2Lo = 1.42860682030941723e-06f;
  const bool underflow = x < -87.3f;
  const bool overflow = x > 88.72f;
  float xc = x > 88.3f ? 88.3f : x;
  xc = xc < -87.3f ? -87.3f : xc;
  const float t = xc * kLog2e + kMagic;
  const float n = t - kMagic;
  const int32_t ni = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kMagic);
  float r = xc - n * kLn2Hi;
  r = r - n * kLn2Lo;
  float p = 1.f / 5040.f;
  p = p * r + 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const float scale = std::bit_cast<float>((ni + 127) << 23);
  const float result = p * scale;
  return underflow ? 0.f : (overflow ? __builtin_inff() : result);
}

inline float sigmoid_f32(float x) {
  return 1.f / (1.f + exp_f32(-x));
}

}  // namespace ipa::ops::cpu
