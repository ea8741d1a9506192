// The flash attention kernel, written once for any vector width and built once per instruction
// set: attention_avx2.cpp (8 floats per vector) and attention_avx512.cpp (16), each compiled for
// its ISA; attention.cpp picks one at run time. Everything here has internal linkage, so the two
// builds never share a function (an inline function shared between them could run AVX-512 code
// on an AVX2 CPU).
//
// For each (batch, head, block of queries): walk the keys in blocks, keep a running maximum and
// denominator per query (online softmax) and accumulate P·V in F32. The block is computed
// transposed, queries along the vector lanes: Sᵀ[key][query] = K·(scale·log2(e)·Q)ᵀ (scores in
// log2 units, so the softmax takes 2^x) and Oᵀ[d][query] += Vᵀ·Pᵀ. K and V are packed once per
// (batch, head) into panels of kPanel rows, the query block is transposed in (and the output
// out) once per task, and the softmax statistics are lane-wise vector ops. Both products run on
// one register-tiled FMA micro-kernel (kPanel broadcast rows × kTileVecs vectors of
// accumulators).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "ops/cpu/attention_problem.h"
#include "ops/cpu/vec_math.h"

namespace ipa::ops::cpu {
namespace {

constexpr int64_t kPanel = 4;    // broadcast rows per micro-tile (packed together)
constexpr int64_t kKBlock = 64;  // keys per inner block (multiple of kPanel)
// Up to this many keys (cross-attention: 77 text tokens, IP-Adapter: 4-16 image tokens) are one
// block: no second pass over a short tail and no rescaling.
constexpr int64_t kMaxKBlock = 128;
constexpr int64_t kQVecs = 6;  // query vectors per task

// C[r][W·v ..] for r < kPanel, v < CV (row stride ldc):
//   (ACC ? C · corr[v] : 0) + Σ_{t<T} A[t][r] · B[t·ldb + W·v ..]
// A is a packed panel [T][kPanel], so the broadcasts of a step share one cache line.
template <class T, int CV, bool ACC>
inline void tile(const float* A, const float* B, int64_t ldb, int64_t steps, float* C, int64_t ldc,
                 const typename T::V* corr) {
  using V = typename T::V;
  constexpr int W = T::W;
  V acc[kPanel][CV];
  for (int r = 0; r < kPanel; ++r) {
    for (int v = 0; v < CV; ++v) {
      acc[r][v] = ACC ? T::load(C + r * ldc + W * v) * corr[v] : V{};
    }
  }
  for (int64_t t = 0; t < steps; ++t) {
    const float* a = A + t * kPanel;
    V bv[CV];
    for (int v = 0; v < CV; ++v) bv[v] = T::load(B + t * ldb + W * v);
    // Keep the B vectors in registers: left alone, GCC folds them into the FMAs as memory
    // operands and reloads each one kPanel times, which makes the loop load-bound.
    for (int v = 0; v < CV; ++v) asm("" : "+v"(bv[v]));
    for (int r = 0; r < kPanel; ++r) {
      const V ar = T::splat(a[r]);
      for (int v = 0; v < CV; ++v) acc[r][v] = T::fma(ar, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < kPanel; ++r) {
    for (int v = 0; v < CV; ++v) T::store(C + r * ldc + W * v, acc[r][v]);
  }
}

// Rows [0, kPanel) of C over nvec query vectors.
template <class T, bool ACC>
inline void tile_row(const float* A, const float* B, int64_t ldb, int64_t steps, float* C,
                     int64_t ldc, const typename T::V* corr, int64_t nvec) {
  constexpr int W = T::W, TV = T::kTileVecs;
  int64_t v = 0;
  for (; v + TV <= nvec; v += TV) {
    tile<T, TV, ACC>(A, B + W * v, ldb, steps, C + W * v, ldc, corr + v);
  }
  switch (nvec - v) {
    case 5:
      if constexpr (TV > 5) tile<T, 5, ACC>(A, B + W * v, ldb, steps, C + W * v, ldc, corr + v);
      break;
    case 4:
      if constexpr (TV > 4) tile<T, 4, ACC>(A, B + W * v, ldb, steps, C + W * v, ldc, corr + v);
      break;
    case 3:
      if constexpr (TV > 3) tile<T, 3, ACC>(A, B + W * v, ldb, steps, C + W * v, ldc, corr + v);
      break;
    case 2:
      tile<T, 2, ACC>(A, B + W * v, ldb, steps, C + W * v, ldc, corr + v);
      break;
    case 1:
      tile<T, 1, ACC>(A, B + W * v, ldb, steps, C + W * v, ldc, corr + v);
      break;
    default:
      break;
  }
}

// X is [n][D] with row stride ld. pack_rows: panels P[g][col][kPanel] over groups of rows (K:
// key groups); pack_cols: panels P[g][row][kPanel] over groups of columns (V: head-dim
// groups). The last group is zero-padded. Whole groups move in 4×4 register transposes
// (pack_rows) or 4-float copies (pack_cols): element by element, packing took ~7 % of the SDXL
// 1024-token attention.
static_assert(kPanel == 4, "the packing moves 4-float groups");
inline void pack_rows(const float* X, int64_t ld, int64_t n, int64_t D, float* P) {
  const int64_t groups = (n + kPanel - 1) / kPanel;
  for (int64_t g = 0; g < groups; ++g) {
    float* dst = P + g * D * kPanel;
    const float* x = X + g * kPanel * ld;
    int64_t d = 0;
    if ((g + 1) * kPanel <= n) {
      for (; d + 4 <= D; d += 4) {
        __m128 r0 = _mm_loadu_ps(x + d), r1 = _mm_loadu_ps(x + ld + d);
        __m128 r2 = _mm_loadu_ps(x + 2 * ld + d), r3 = _mm_loadu_ps(x + 3 * ld + d);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(dst + d * kPanel, r0);
        _mm_storeu_ps(dst + (d + 1) * kPanel, r1);
        _mm_storeu_ps(dst + (d + 2) * kPanel, r2);
        _mm_storeu_ps(dst + (d + 3) * kPanel, r3);
      }
    }
    for (; d < D; ++d) {
      for (int64_t r = 0; r < kPanel; ++r) {
        dst[d * kPanel + r] = g * kPanel + r < n ? x[r * ld + d] : 0.f;
      }
    }
  }
}
inline void pack_cols(const float* X, int64_t ld, int64_t n, int64_t D, float* P) {
  // Group by group, so the panel is written as one sequential stream (row by row it was
  // D/4 interleaved streams and cost twice as much); the rows' cache lines are reused from L2
  // by the next groups.
  const int64_t full = D / kPanel, groups = (D + kPanel - 1) / kPanel;
  for (int64_t g = 0; g < full; ++g) {
    float* dst = P + g * n * kPanel;
    for (int64_t j = 0; j < n; ++j) {
      _mm_storeu_ps(dst + j * kPanel, _mm_loadu_ps(X + j * ld + g * kPanel));
    }
  }
  for (int64_t g = full; g < groups; ++g) {
    float* dst = P + g * n * kPanel;
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t r = 0; r < kPanel; ++r) {
        const int64_t col = g * kPanel + r;
        dst[j * kPanel + r] = col < D ? X[j * ld + col] : 0.f;
      }
    }
  }
}

// dst[c·ldd + r] = src[r·lds + c] · cs[c] for r < rows, c < cols: the query block in and the
// output block out of the transposed layout. 8×8 blocks are transposed in registers (AVX2
// shuffles, which both builds have; the scalar loop it replaces took ~1.5 ms of the 6 ms
// cross-attention at 77 keys), the edges element by element; every element is rounded once
// either way. Without kScale (cs unused) it moves 32-bit values untouched: the bf16 kernel's
// pairs of bf16 (attention_bf16_avx512.cpp).
template <bool kScale = true>
inline void transpose_scaled(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst,
                             int64_t ldd, const float* cs) {
  int64_t r0 = 0;
  for (; r0 + 8 <= rows; r0 += 8) {
    int64_t c0 = 0;
    for (; c0 + 8 <= cols; c0 += 8) {
      const __m256 m = kScale ? _mm256_loadu_ps(cs + c0) : __m256{};
      __m256 x[8], t[8];
      for (int r = 0; r < 8; ++r)
        x[r] = kScale ? _mm256_mul_ps(_mm256_loadu_ps(src + (r0 + r) * lds + c0), m)
                      : _mm256_loadu_ps(src + (r0 + r) * lds + c0);
      for (int r = 0; r < 8; r += 2) {
        t[r] = _mm256_unpacklo_ps(x[r], x[r + 1]);
        t[r + 1] = _mm256_unpackhi_ps(x[r], x[r + 1]);
      }
      for (int r = 0; r < 8; r += 4) {
        x[r] = _mm256_shuffle_ps(t[r], t[r + 2], 0x44);
        x[r + 1] = _mm256_shuffle_ps(t[r], t[r + 2], 0xee);
        x[r + 2] = _mm256_shuffle_ps(t[r + 1], t[r + 3], 0x44);
        x[r + 3] = _mm256_shuffle_ps(t[r + 1], t[r + 3], 0xee);
      }
      // x[0..3] hold columns 0..3 of rows 0..3 (low half) and 4..7 (high half) for rows 0-3,
      // x[4..7] the same for rows 4..7.
      for (int c = 0; c < 4; ++c) {
        _mm256_storeu_ps(dst + (c0 + c) * ldd + r0, _mm256_permute2f128_ps(x[c], x[c + 4], 0x20));
        _mm256_storeu_ps(dst + (c0 + c + 4) * ldd + r0,
                         _mm256_permute2f128_ps(x[c], x[c + 4], 0x31));
      }
    }
    for (; c0 < cols; ++c0) {
      for (int64_t r = r0; r < r0 + 8; ++r) {
        dst[c0 * ldd + r] = kScale ? src[r * lds + c0] * cs[c0] : src[r * lds + c0];
      }
    }
  }
  for (; r0 < rows; ++r0) {
    for (int64_t c = 0; c < cols; ++c) {
      dst[c * ldd + r0] = kScale ? src[r0 * lds + c] * cs[c] : src[r0 * lds + c];
    }
  }
}

template <class T>
void attention_kernel(const AttentionProblem& p) {
  using V = typename T::V;
  constexpr int64_t W = T::W;
  constexpr int64_t kQBlock = W * kQVecs;  // queries per task
  const int64_t B = p.B, H = p.H, Lq = p.Lq, Lk = p.Lk, D = p.D, HD = p.H * p.D;
  const int64_t qblocks = (Lq + kQBlock - 1) / kQBlock;
  const int64_t tasks = B * H * qblocks;
  // K and V of each (batch, head) packed once into micro-kernel panels: K as key groups
  // [Lk/4][D][4], V as head-dim groups [D/4][Lk][4] (zero-padded to whole groups).
  const int64_t kgroups = (Lk + kPanel - 1) / kPanel, dgroups = (D + kPanel - 1) / kPanel;
  const int64_t kpanel_size = kgroups * D * kPanel, vpanel_size = dgroups * Lk * kPanel;
  float* kpk = p.k_pack;
  float* vpk = p.v_pack;
  constexpr float kNegInf = -__builtin_inff();
  // Scores are kept in log2 units (scale · log2(e) folded into Q, the mask multiplied by
  // log2(e)), so the softmax needs 2^x, which is cheaper than e^x (vexp2_nonpos).
  constexpr float kLog2e = 1.44269504088896341f;
  const float qscale = p.scale * kLog2e;
  const int64_t kb = Lk <= kMaxKBlock ? Lk : kKBlock;

#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < B * H; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      pack_rows(p.k + (b * Lk * HD + h * D), HD, Lk, D, kpk + bh * kpanel_size);
      pack_cols(p.v + (b * Lk * HD + h * D), HD, Lk, D, vpk + bh * vpanel_size);
    }
    // Per-thread blocks, query index fastest: Qᵀ [D][kQBlock], Sᵀ/Pᵀ [kMaxKBlock][kQBlock],
    // Oᵀ [D rounded up to kPanel][kQBlock]; the running max, denominator and rescale factor
    // per query vector.
    std::vector<V> Qt(D * kQVecs), S(kMaxKBlock * kQVecs), O(dgroups * kPanel * kQVecs);
    const std::vector<float> qscales(D, qscale);
    V mrow[kQVecs], lrow[kQVecs], corr[kQVecs], inv[kQVecs];
    float* qt = reinterpret_cast<float*>(Qt.data());
    float* s = reinterpret_cast<float*>(S.data());
    float* o = reinterpret_cast<float*>(O.data());
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t qb = t % qblocks, h = (t / qblocks) % H, b = t / (qblocks * H);
      const int64_t q0 = qb * kQBlock, nq = std::min(kQBlock, Lq - q0), nvec = (nq + W - 1) / W;
      // Scaled queries, transposed; lanes past nq are zero (their results are dropped).
      if (nq < kQBlock) std::fill(qt, qt + D * kQBlock, 0.f);
      transpose_scaled(p.q + ((b * Lq + q0) * HD + h * D), HD, nq, D, qt, kQBlock, qscales.data());
      for (int64_t w = 0; w < kQVecs; ++w) {
        mrow[w] = T::splat(kNegInf);
        lrow[w] = V{};
      }
      const float* kh = kpk + (b * H + h) * kpanel_size;
      const float* vh = vpk + (b * H + h) * vpanel_size;
      for (int64_t k0 = 0; k0 < Lk; k0 += kb) {
        const int64_t nk = std::min(kb, Lk - k0);
        // Sᵀ[j][i] = Σ_d K[k0 + j][d] · Qᵀ[d][i] (rows past nk are padding, never read)
        for (int64_t j = 0; j < nk; j += kPanel) {
          tile_row<T, false>(kh + (k0 + j) * D, qt, kQBlock, D, s + j * kQBlock, kQBlock, corr,
                             nvec);
        }
        if (p.mask) {
          for (int64_t j = 0; j < nk; ++j) {
            const float* mr =
                p.mask + b * p.mask_sb + h * p.mask_sh + q0 * p.mask_si + (k0 + j) * p.mask_sj;
            float* sr = s + j * kQBlock;
            for (int64_t i = 0; i < nq; ++i) sr[i] += mr[i * p.mask_si] * kLog2e;
          }
        }
        // Online softmax, lane-wise per query, all kQVecs query vectors at once (vectors past
        // nvec hold stale values whose results are dropped): keys outer, so the max and sum
        // chains of the vectors are independent and overlap instead of waiting on each other.
        V bmax[kQVecs], msafe[kQVecs], psum[kQVecs];
        for (int64_t w = 0; w < kQVecs; ++w) bmax[w] = S[w];
        for (int64_t j = 1; j < nk; ++j) {
          for (int64_t w = 0; w < kQVecs; ++w) bmax[w] = T::max(bmax[w], S[j * kQVecs + w]);
        }
        for (int64_t w = 0; w < kQVecs; ++w) {
          const V mnew = T::max(mrow[w], bmax[w]);
          // Queries whose keys are all -inf so far keep p = 0 (2^(-inf - 0)), not NaN.
          msafe[w] = mnew == kNegInf ? V{} : mnew;
          corr[w] = vexp2_nonpos<T>(mrow[w] - msafe[w]);
          mrow[w] = mnew;
          psum[w] = V{};
        }
        for (int64_t j = 0; j < nk; ++j) {
          for (int64_t w = 0; w < kQVecs; ++w) {
            const V pj = vexp2_nonpos<T>(S[j * kQVecs + w] - msafe[w]);
            S[j * kQVecs + w] = pj;
            psum[w] += pj;
          }
        }
        for (int64_t w = 0; w < kQVecs; ++w) lrow[w] = lrow[w] * corr[w] + psum[w];
        // Oᵀ[d][i] = Oᵀ[d][i] · corr[i] + Σ_j V[k0 + j][d] · Pᵀ[j][i]; the first block sets Oᵀ
        // (so it needs no zeroing).
        for (int64_t g = 0; g < dgroups; ++g) {
          const float* vg = vh + (g * Lk + k0) * kPanel;
          float* og = o + g * kPanel * kQBlock;
          if (k0 == 0) {
            tile_row<T, false>(vg, s, kQBlock, nk, og, kQBlock, corr, nvec);
          } else {
            tile_row<T, true>(vg, s, kQBlock, nk, og, kQBlock, corr, nvec);
          }
        }
      }
      // A query whose keys are all masked with -inf has l = 0 and gives 0/0 = NaN, as in
      // PyTorch.
      for (int64_t w = 0; w < kQVecs; ++w) inv[w] = 1.f / lrow[w];
      transpose_scaled(o, kQBlock, D, nq, p.out + ((b * Lq + q0) * HD + h * D), HD,
                       reinterpret_cast<const float*>(inv));
    }
  }
}

}  // namespace
}  // namespace ipa::ops::cpu
