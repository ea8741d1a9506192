// The vector types our kernels are written for, one traits struct per instruction set:
// `Avx2Vec` (8 floats) and `Avx512Vec` (16). Kernels are templates over these (vec_math.h,
// pointwise_kernels.h, attention_kernel.h) and are instantiated in files compiled for that ISA
// (*_avx2.cpp with -mavx2 -mfma, *_avx512.cpp with -mavx512f); the rest of the library is built
// for x86-64-v3 and picks a variant at run time (isa.h).
//
// Everything here has internal linkage (unnamed namespace): an inline function with external
// linkage compiled in an AVX-512 file could be the copy the linker keeps for every file, and
// then run on an AVX2 CPU. tests/cmake/check_isa_objects.cmake checks the AVX-512 objects
// define no such shared symbol.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace ipa::ops::cpu {
namespace {

struct Avx2Vec {
  static constexpr int W = 8;
  typedef float V __attribute__((vector_size(32)));
  typedef int32_t I __attribute__((vector_size(32)));
  static V load(const float* p) {
    V v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(float* p, V v) { __builtin_memcpy(p, &v, sizeof v); }
  // A non-temporal store (p 32-byte aligned): for outputs far larger than the caches, it skips
  // reading each line before writing it. Needs a fence (stream_fence) before others read p.
  static void stream(float* p, V v) { _mm256_stream_ps(p, (__m256)v); }
  // A broadcast (vbroadcastss). Not `V{} + f`: GCC cannot fold that addition (0 + -0 is +0),
  // so it kept a zero register and a scalar add per broadcast; with 16 registers the AVX2
  // attention tile then spilled its broadcast to the stack on every step (52 % of the peak
  // instead of 84 %; docs/performance.md).
  static V splat(float f) { return (V)_mm256_set1_ps(f); }
  // a·b + c with one rounding, where the kernel wants it: explicit, so it does not depend on
  // whether GCC contracts (the row kernels build with -ffp-contract=off).
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }  // b where either is NaN (maxps)
  static V min(V a, V b) { return _mm256_min_ps(a, b); }  // b where either is NaN (minps)
  // Nearest integer, ties to even.
  static V round(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // p · 2^n for integral n in [-126, 127], built from the exponent bits (one rounding, as
  // vscalefps).
  static V mul_pow2(V p, V n) {
    typedef int32_t Ii __attribute__((vector_size(32)));
    const Ii e = ((Ii)_mm256_cvtps_epi32(n) + 127) << 23;
    return p * (V)e;
  }
};

// Orders this thread's non-temporal stores before what follows (other threads' reads).
inline void stream_fence() {
  _mm_sfence();
}

#ifdef __AVX512F__
struct Avx512Vec {
  static constexpr int W = 16;
  typedef float V __attribute__((vector_size(64)));
  typedef int32_t I __attribute__((vector_size(64)));
  static V load(const float* p) {
    V v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(float* p, V v) { __builtin_memcpy(p, &v, sizeof v); }
  static void stream(float* p, V v) { _mm512_stream_ps(p, (__m512)v); }  // p 64-byte aligned
  static V splat(float f) { return (V)_mm512_set1_ps(f); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  // Spelled as selects with maxps/minps's NaN rule (b where either is NaN): GCC 12's
  // _mm512_max_ps trips -Wmaybe-uninitialized in its own header.
  static V max(V a, V b) { return a > b ? a : b; }
  static V min(V a, V b) { return a < b ? a : b; }
  // The masked forms with every lane set, for the same reason (the plain ones pass
  // _mm512_undefined_ps()).
  static V round(V a) {
    return _mm512_mask_roundscale_ps(a, 0xffff, a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static V mul_pow2(V p, V n) { return _mm512_mask_scalef_ps(p, 0xffff, p, n); }  // vscalefps
};
#endif

}  // namespace
}  // namespace ipa::ops::cpu
