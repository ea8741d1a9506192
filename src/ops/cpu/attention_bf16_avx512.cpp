// The attention kernel with bf16 products (AVX-512 BF16, vdpbf16ps), for layers that compute in
// bf16 (ops::attention with DType::BF16). Compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512bf16; run only where the CPU has them (attention.cpp checks).
//
// The structure is attention_kernel.h's (transposed blocks, queries along the lanes, online
// softmax in log2 units, K and V packed once per (batch, head)), with both products on
// vdpbf16ps: each instruction multiplies 16 pairs of bf16 and adds both products to 16 F32
// accumulators, twice the FLOPs of an FMA per instruction. So the reduction dimension comes in
// pairs packed into 32 bits (low half the even index):
//   Sᵀ[key][query] = Σ_d K[key][d] · Qᵀ[d][query]: K panels [D/2][4 keys] and Qᵀ [D/2][query]
//                    of pairs over d (a bf16 row read as 32-bit values is exactly that);
//   Oᵀ[d][query] += Σ_j V[j][d] · Pᵀ[j][query]: V panels [Lk/2][4 dims] and Pᵀ [nk/2][query]
//                    of pairs over keys (two rows interleaved by vpermw).
// Q, K and V are rounded to bf16 (round to nearest even) as they are packed, unscaled; the
// scale (· log2 e) multiplies the F32 scores as the micro-kernel stores them. The softmax runs
// in F32; P is rounded to bf16 for the second product while the denominator sums the F32 P, so
// the output differs from exact attention over the rounded Q, K, V by at most 2⁻⁸ · max|V|
// (OpsAttentionBf16.MatchesRoundedReference). Odd D and odd key counts are zero-padded.
#include <cstring>

#include "ops/cpu/attention_kernel.h"

namespace ipa::ops::cpu {
namespace {

using T = Avx512Vec;
using V = T::V;
constexpr int64_t W = T::W;
constexpr int kTileVecs = 6;  // 4 broadcast rows × 6 vectors, as in the F32 AVX-512 kernel

__m512bh as_bh(__m512i x) {
  return reinterpret_cast<__m512bh&>(x);
}

// n floats → ⌈n/2⌉ pairs of bf16 (the last one's high half 0 when n is odd).
void to_bf16_pairs(const float* x, int64_t n, uint32_t* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh b = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
    std::memcpy(out + i / 2, &b, sizeof b);
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m256bh b = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i));
    __m256i bi;
    std::memcpy(&bi, &b, sizeof b);
    _mm256_mask_storeu_epi32(out + i / 2, static_cast<__mmask8>((1u << ((n - i + 1) / 2)) - 1), bi);
  }
}

// Pairs (a[i], b[i]) of two F32 vectors rounded to bf16, a in the low half.
__m512i interleave_bf16(V a, V b) {
  // cvtne2ps puts b's 16 values above a's; vpermw takes word i of a and of b to words 2i, 2i+1.
  const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                       23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512bh ab = _mm512_cvtne2ps_pbh(b, a);
  __m512i abi;
  std::memcpy(&abi, &ab, sizeof ab);
  return _mm512_permutexvar_epi16(idx, abi);
}

// K rows [n][D] (row stride ld) → panels [⌈n/4⌉][⌈D/2⌉][4] of pairs over d, zero-padded.
void pack_k(const float* X, int64_t ld, int64_t n, int64_t D, uint32_t* P, uint32_t* rows4) {
  const int64_t D2 = (D + 1) / 2;
  for (int64_t g = 0; g * kPanel < n; ++g) {
    for (int64_t r = 0; r < kPanel; ++r) {
      const int64_t row = g * kPanel + r;
      if (row < n) {
        to_bf16_pairs(X + row * ld, D, rows4 + r * D2);
      } else {
        std::fill(rows4 + r * D2, rows4 + (r + 1) * D2, 0u);
      }
    }
    // The 4×4 transposes of pack_rows move 32-bit values untouched.
    pack_rows(reinterpret_cast<const float*>(rows4), D2, kPanel, D2,
              reinterpret_cast<float*>(P + g * D2 * kPanel));
  }
}

// V rows [n][D] (row stride ld) → panels [⌈D/4⌉][⌈n/2⌉][4] of pairs over rows, zero-padded.
void pack_v(const float* X, int64_t ld, int64_t n, int64_t D, uint32_t* P) {
  const int64_t n2 = (n + 1) / 2;
  alignas(64) uint32_t pairs[W];
  for (int64_t t = 0; t < n2; ++t) {
    const float* r0 = X + 2 * t * ld;
    const float* r1 = 2 * t + 1 < n ? r0 + ld : nullptr;
    for (int64_t d0 = 0; d0 < D; d0 += W) {
      const int64_t nd = std::min<int64_t>(W, D - d0);
      const __mmask16 m = static_cast<__mmask16>((1u << nd) - 1);
      const V a = _mm512_maskz_loadu_ps(m, r0 + d0);
      const V b = r1 ? V(_mm512_maskz_loadu_ps(m, r1 + d0)) : V{};
      _mm512_store_si512(pairs, interleave_bf16(a, b));
      for (int64_t gi = 0; gi * kPanel < nd; ++gi) {
        std::memcpy(P + ((d0 / kPanel + gi) * n2 + t) * kPanel, pairs + gi * kPanel,
                    kPanel * sizeof(uint32_t));
      }
    }
  }
}

// C[r][W·v ..] for r < kPanel, v < CV (row stride ldc):
//   (ACC ? C · corr[v] : 0) + cscale · Σ_{t<T} Σ_{h<2} A[t][r].h · B[t·ldb + W·v ..].h
// (cscale only when SCALE) with A a packed panel [T][kPanel] of bf16 pairs and B rows of pairs.
template <int CV, bool ACC, bool SCALE>
inline void tile(const uint32_t* A, const uint32_t* B, int64_t ldb, int64_t steps, float* C,
                 int64_t ldc, const V* corr, V cscale) {
  V acc[kPanel][CV];
  for (int r = 0; r < kPanel; ++r) {
    for (int v = 0; v < CV; ++v) acc[r][v] = ACC ? T::load(C + r * ldc + W * v) * corr[v] : V{};
  }
  for (int64_t t = 0; t < steps; ++t) {
    const uint32_t* a = A + t * kPanel;
    __m512i bv[CV];
    for (int v = 0; v < CV; ++v) bv[v] = _mm512_loadu_si512(B + t * ldb + W * v);
    // In registers, not folded into the dot products as memory operands (see the F32 tile).
    for (int v = 0; v < CV; ++v) asm("" : "+v"(bv[v]));
    for (int r = 0; r < kPanel; ++r) {
      const __m512bh ar = as_bh(_mm512_set1_epi32(static_cast<int>(a[r])));
      for (int v = 0; v < CV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], ar, as_bh(bv[v]));
    }
  }
  for (int r = 0; r < kPanel; ++r) {
    for (int v = 0; v < CV; ++v) {
      T::store(C + r * ldc + W * v, SCALE ? acc[r][v] * cscale : acc[r][v]);
    }
  }
}

// Rows [0, kPanel) of C over nvec query vectors.
template <bool ACC, bool SCALE>
inline void tile_row(const uint32_t* A, const uint32_t* B, int64_t ldb, int64_t steps, float* C,
                     int64_t ldc, const V* corr, V cscale, int64_t nvec) {
  int64_t v = 0;
  for (; v + kTileVecs <= nvec; v += kTileVecs) {
    tile<kTileVecs, ACC, SCALE>(A, B + W * v, ldb, steps, C + W * v, ldc, corr + v, cscale);
  }
  switch (nvec - v) {
    case 5:
      tile<5, ACC, SCALE>(A, B + W * v, ldb, steps, C + W * v, ldc, corr + v, cscale);
      break;
    case 4:
      tile<4, ACC, SCALE>(A, B + W * v, ldb, steps, C + W * v, ldc, corr + v, cscale);
      break;
    case 3:
      tile<3, ACC, SCALE>(A, B + W * v, ldb, steps, C + W * v, ldc, corr + v, cscale);
      break;
    case 2:
      tile<2, ACC, SCALE>(A, B + W * v, ldb, steps, C + W * v, ldc, corr + v, cscale);
      break;
    case 1:
      tile<1, ACC, SCALE>(A, B + W * v, ldb, steps, C + W * v, ldc, corr + v, cscale);
      break;
    default:
      break;
  }
}

}  // namespace

void attention_bf16_avx512(const AttentionProblem& p) {
  constexpr int64_t kQBlock = W * kQVecs;  // queries per task
  const int64_t B = p.B, H = p.H, Lq = p.Lq, Lk = p.Lk, D = p.D, HD = p.H * p.D;
  const int64_t D2 = (D + 1) / 2, Lk2 = (Lk + 1) / 2;
  const int64_t qblocks = (Lq + kQBlock - 1) / kQBlock;
  const int64_t tasks = B * H * qblocks;
  const int64_t kgroups = (Lk + kPanel - 1) / kPanel, dgroups = (D + kPanel - 1) / kPanel;
  // In 32-bit pairs; no larger than the F32 panels the scratch is sized for.
  const int64_t kpanel_size = kgroups * D2 * kPanel, vpanel_size = dgroups * Lk2 * kPanel;
  uint32_t* kpk = reinterpret_cast<uint32_t*>(p.k_pack);
  uint32_t* vpk = reinterpret_cast<uint32_t*>(p.v_pack);
  constexpr float kNegInf = -__builtin_inff();
  constexpr float kLog2e = 1.44269504088896341f;
  const V qscale = T::splat(p.scale * kLog2e);
  // Key blocks of 128 (the F32 kernel's 64 measured ~1.5 % slower here: the products take half
  // the time, so the per-block rescale and stores weigh twice as much); even except the last.
  const int64_t kb = std::min(Lk, kMaxKBlock);

#pragma omp parallel
  {
    std::vector<uint32_t> rows(std::max(kPanel, kQBlock) * D2);
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < B * H; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      pack_k(p.k + (b * Lk * HD + h * D), HD, Lk, D, kpk + bh * kpanel_size, rows.data());
      pack_v(p.v + (b * Lk * HD + h * D), HD, Lk, D, vpk + bh * vpanel_size);
    }
    // Per-thread blocks, query index fastest: Qᵀ [D/2][kQBlock] pairs, Sᵀ [kMaxKBlock][kQBlock]
    // F32 (Pᵀ's pairs overwrite its first half), Oᵀ [D rounded up to kPanel][kQBlock].
    std::vector<uint32_t> Qt(D2 * kQBlock);
    std::vector<V> S(kMaxKBlock * kQVecs), O(dgroups * kPanel * kQVecs);
    V mrow[kQVecs], lrow[kQVecs], corr[kQVecs], inv[kQVecs];
    uint32_t* qt = Qt.data();
    float* s = reinterpret_cast<float*>(S.data());
    const uint32_t* pt = reinterpret_cast<const uint32_t*>(S.data());
    float* o = reinterpret_cast<float*>(O.data());
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t qb = t % qblocks, h = (t / qblocks) % H, b = t / (qblocks * H);
      const int64_t q0 = qb * kQBlock, nq = std::min(kQBlock, Lq - q0), nvec = (nq + W - 1) / W;
      // Queries rounded to bf16 pairs, then transposed; lanes past nq are zero.
      const float* qrow = p.q + ((b * Lq + q0) * HD + h * D);
      for (int64_t i = 0; i < nq; ++i) to_bf16_pairs(qrow + i * HD, D, rows.data() + i * D2);
      if (nq < kQBlock) std::fill(qt, qt + D2 * kQBlock, 0u);
      transpose_scaled<false>(reinterpret_cast<const float*>(rows.data()), D2, nq, D2,
                              reinterpret_cast<float*>(qt), kQBlock, nullptr);
      for (int64_t w = 0; w < kQVecs; ++w) {
        mrow[w] = T::splat(kNegInf);
        lrow[w] = V{};
      }
      const uint32_t* kh = kpk + (b * H + h) * kpanel_size;
      const uint32_t* vh = vpk + (b * H + h) * vpanel_size;
      for (int64_t k0 = 0; k0 < Lk; k0 += kb) {
        const int64_t nk = std::min(kb, Lk - k0), nk2 = (nk + 1) / 2;
        // Sᵀ[j][i] = scale · log2 e · Σ_d K[k0 + j][d] · Qᵀ[d][i] (key groups start at k0 + j,
        // a multiple of kPanel, at pair (k0 + j) · D2)
        for (int64_t j = 0; j < nk; j += kPanel) {
          tile_row<false, true>(kh + (k0 + j) * D2, qt, kQBlock, D2, s + j * kQBlock, kQBlock, corr,
                                qscale, nvec);
        }
        if (p.mask) {
          for (int64_t j = 0; j < nk; ++j) {
            const float* mr =
                p.mask + b * p.mask_sb + h * p.mask_sh + q0 * p.mask_si + (k0 + j) * p.mask_sj;
            float* sr = s + j * kQBlock;
            for (int64_t i = 0; i < nq; ++i) sr[i] += mr[i * p.mask_si] * kLog2e;
          }
        }
        // Online softmax as in the F32 kernel, then P in pairs of keys: Pᵀ row jp (keys 2jp,
        // 2jp + 1) overwrites Sᵀ row jp, which has been read (jp ≤ 2jp).
        V bmax[kQVecs], msafe[kQVecs], psum[kQVecs];
        for (int64_t w = 0; w < kQVecs; ++w) bmax[w] = S[w];
        for (int64_t j = 1; j < nk; ++j) {
          for (int64_t w = 0; w < kQVecs; ++w) bmax[w] = T::max(bmax[w], S[j * kQVecs + w]);
        }
        for (int64_t w = 0; w < kQVecs; ++w) {
          const V mnew = T::max(mrow[w], bmax[w]);
          msafe[w] = mnew == kNegInf ? V{} : mnew;
          corr[w] = vexp2_nonpos<T>(mrow[w] - msafe[w]);
          mrow[w] = mnew;
          psum[w] = V{};
        }
        for (int64_t jp = 0; jp < nk2; ++jp) {
          const int64_t j = 2 * jp;
          V p0[kQVecs], p1[kQVecs];
          for (int64_t w = 0; w < kQVecs; ++w)
            p0[w] = vexp2_nonpos<T>(S[j * kQVecs + w] - msafe[w]);
          for (int64_t w = 0; w < kQVecs; ++w) {
            p1[w] = j + 1 < nk ? vexp2_nonpos<T>(S[(j + 1) * kQVecs + w] - msafe[w]) : V{};
          }
          for (int64_t w = 0; w < kQVecs; ++w) {
            psum[w] += p0[w] + p1[w];
            _mm512_storeu_si512(s + (jp * kQVecs + w) * W, interleave_bf16(p0[w], p1[w]));
          }
        }
        for (int64_t w = 0; w < kQVecs; ++w) lrow[w] = lrow[w] * corr[w] + psum[w];
        // Oᵀ[d][i] = Oᵀ[d][i] · corr[i] + Σ_j V[k0 + j][d] · Pᵀ[j][i]; the first block sets Oᵀ.
        for (int64_t g = 0; g < dgroups; ++g) {
          const uint32_t* vg = vh + (g * Lk2 + k0 / 2) * kPanel;
          float* og = o + g * kPanel * kQBlock;
          if (k0 == 0) {
            tile_row<false, false>(vg, pt, kQBlock, nk2, og, kQBlock, corr, qscale, nvec);
          } else {
            tile_row<true, false>(vg, pt, kQBlock, nk2, og, kQBlock, corr, qscale, nvec);
          }
        }
      }
      for (int64_t w = 0; w < kQVecs; ++w) inv[w] = 1.f / lrow[w];
      transpose_scaled(o, kQBlock, D, nq, p.out + ((b * Lq + q0) * HD + h * D), HD,
                       reinterpret_cast<const float*>(inv));
    }
  }
}

}  // namespace ipa::ops::cpu
