// Flash-style attention: for each (batch, head, block of queries) walk the keys in blocks,
// keep a running maximum and denominator per query (online softmax) and accumulate P·V in F32.
// Memory per thread is O(query block · (key block + head dim)).
//
// The block is computed transposed, queries along the vector lanes: Sᵀ[key][query] =
// K·(scale·Q)ᵀ and Oᵀ[d][query] += Vᵀ·Pᵀ. Then K and V are read in place (their elements are
// broadcast, so nothing is packed per block), only the query block is transposed once per task,
// and the softmax statistics are lane-wise vector ops instead of horizontal reductions. Both
// products run on one register-tiled FMA micro-kernel (4 broadcast rows x 3 AVX2 vectors =
// 12 accumulators, enough to cover the FMA latency on two pipes).
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/cpu_util.h"
#include "ops/profile.h"

namespace ipa::ops {

using namespace cpu;

namespace {

constexpr int64_t kQVecs = 6;            // query vectors per task
constexpr int64_t kQBlock = 8 * kQVecs;  // queries per task
constexpr int64_t kKBlock = 64;          // keys per inner block (multiple of kPanel)
constexpr int64_t kPanel = 4;            // broadcast rows per micro-tile (packed together)
constexpr int kTileVecs = 3;             // 8-query vectors per micro-tile

// C[r][8v..8v+8) for r < kPanel, v < CV (row stride ldc):
//   (ACC ? C · corr[v] : 0) + Σ_{t<T} A[t][r] · B[t·ldb + 8v ..]
// A is a packed panel [T][kPanel], so the four broadcasts of a step share one cache line.
template <int CV, bool ACC>
inline void tile(const float* A, const float* B, int64_t ldb, int64_t T, float* C, int64_t ldc,
                 const v8f* corr) {
  v8f acc[kPanel][CV];
  for (int r = 0; r < kPanel; ++r) {
    for (int v = 0; v < CV; ++v) {
      acc[r][v] = ACC ? load8(C + r * ldc + 8 * v) * corr[v] : v8f{};
    }
  }
  for (int64_t t = 0; t < T; ++t) {
    const float* a = A + t * kPanel;
    v8f bv[CV];
    for (int v = 0; v < CV; ++v) bv[v] = load8(B + t * ldb + 8 * v);
#if defined(__AVX__)
    // Keep the B vectors in registers: left alone, GCC folds them into the FMAs as memory
    // operands and reloads each one kPanel times, which makes the loop load-bound (half speed).
    if constexpr (CV == 3) asm("" : "+x"(bv[0]), "+x"(bv[1]), "+x"(bv[2]));
    if constexpr (CV == 2) asm("" : "+x"(bv[0]), "+x"(bv[1]));
    if constexpr (CV == 1) asm("" : "+x"(bv[0]));
#endif
    for (int r = 0; r < kPanel; ++r) {
      const v8f ar = splat8(a[r]);
      for (int v = 0; v < CV; ++v) acc[r][v] = fma8(ar, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < kPanel; ++r) {
    for (int v = 0; v < CV; ++v) store8(C + r * ldc + 8 * v, acc[r][v]);
  }
}

// Rows [0, kPanel) of C over nvec query vectors.
template <bool ACC>
inline void tile_row(const float* A, const float* B, int64_t ldb, int64_t T, float* C, int64_t ldc,
                     const v8f* corr, int64_t nvec) {
  int64_t v = 0;
  for (; v + kTileVecs <= nvec; v += kTileVecs) {
    tile<kTileVecs, ACC>(A, B + 8 * v, ldb, T, C + 8 * v, ldc, corr + v);
  }
  if (nvec - v == 2) tile<2, ACC>(A, B + 8 * v, ldb, T, C + 8 * v, ldc, corr + v);
  if (nvec - v == 1) tile<1, ACC>(A, B + 8 * v, ldb, T, C + 8 * v, ldc, corr + v);
}

// X is [n][D] with row stride ld. pack_rows: panels P[g][col][kPanel] over groups of rows (K:
// key groups); pack_cols: panels P[g][row][kPanel] over groups of columns (V: head-dim
// groups). The last group is zero-padded.
void pack_rows(const float* X, int64_t ld, int64_t n, int64_t D, float* P) {
  const int64_t groups = (n + kPanel - 1) / kPanel;
  for (int64_t g = 0; g < groups; ++g) {
    float* dst = P + g * D * kPanel;
    for (int64_t r = 0; r < kPanel; ++r) {
      const int64_t row = g * kPanel + r;
      for (int64_t d = 0; d < D; ++d) dst[d * kPanel + r] = row < n ? X[row * ld + d] : 0.f;
    }
  }
}
void pack_cols(const float* X, int64_t ld, int64_t n, int64_t D, float* P) {
  const int64_t groups = (D + kPanel - 1) / kPanel;
  for (int64_t g = 0; g < groups; ++g) {
    float* dst = P + g * n * kPanel;
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t r = 0; r < kPanel; ++r) {
        const int64_t col = g * kPanel + r;
        dst[j * kPanel + r] = col < D ? X[j * ld + col] : 0.f;
      }
    }
  }
}

struct MaskView {
  const float* data = nullptr;
  int64_t sb = 0, sh = 0, si = 0, sj = 0;  // element strides, 0 where broadcast
};

MaskView mask_view(const Tensor& mask, int64_t B, int64_t H, int64_t Lq, int64_t Lk) {
  MaskView mv;
  if (!mask.defined()) return mv;
  const char* op = "attention";
  if (mask.dtype() != DType::F32) fail(op, "mask must be F32 (additive)", mask);
  const Shape full = {B, H, Lq, Lk};
  if (mask.dim() < 1 || mask.dim() > 4) {
    fail(op, "mask must broadcast to [B, H, Lq, Lk] = " + shape_str(full), mask);
  }
  Shape ms(4 - mask.dim(), 1);
  ms.insert(ms.end(), mask.shape().begin(), mask.shape().end());
  for (int d = 0; d < 4; ++d) {
    if (ms[d] != 1 && ms[d] != full[d]) {
      fail(op, "mask must broadcast to [B, H, Lq, Lk] = " + shape_str(full), mask);
    }
  }
  const Shape st = contiguous_strides(ms);
  mv.sb = ms[0] == 1 ? 0 : st[0];
  mv.sh = ms[1] == 1 ? 0 : st[1];
  mv.si = ms[2] == 1 ? 0 : st[2];
  mv.sj = ms[3] == 1 ? 0 : st[3];
  return mv;
}

}  // namespace

Tensor attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, int heads, float scale,
                 const Tensor& mask_in) {
  profile::OpScope prof("attention");
  const char* op = "attention";
  Tensor q = f32_input(q_in, op, "q"), k = f32_input(k_in, op, "k"), v = f32_input(v_in, op, "v");
  check_rank(q, 3, op, "q [B, Lq, H*D]");
  check_rank(k, 3, op, "k [B, Lk, H*D]");
  check_rank(v, 3, op, "v [B, Lk, H*D]");
  const int64_t B = q.size(0), Lq = q.size(1), HD = q.size(2), Lk = k.size(1);
  if (heads < 1 || HD % heads != 0) {
    fail(op, "q's last dim does not split into " + std::to_string(heads) + " heads", q);
  }
  if (k.size(0) != B || k.size(2) != HD || v.shape() != k.shape()) {
    fail(op, "q " + q.describe() + ", k " + k.describe() + " and v " + v.describe() +
                 " do not agree (k and v must be [B, Lk, H*D] with q's B and H*D)");
  }
  const int64_t H = heads, D = HD / H;
  Tensor mask = mask_in.defined() ? mask_in.contiguous() : Tensor();
  const MaskView mv = mask_view(mask, B, H, Lq, Lk);
  Tensor out = Tensor::empty({B, Lq, HD});
  if (out.numel() == 0) return out;
  prof.set_flops(4.0 * static_cast<double>(B) * static_cast<double>(Lq) * static_cast<double>(Lk) *
                 static_cast<double>(HD));
  if (Lk == 0) {
    fail(op, "k and v have no tokens", k);
  }
  MaskView m = mv;
  if (mask.defined()) m.data = mask.data<float>();
  const float* qp = q.data<float>();
  const float* kp = k.data<float>();
  const float* vp = v.data<float>();
  float* op_ = out.data<float>();
  const int64_t qblocks = (Lq + kQBlock - 1) / kQBlock;
  const int64_t tasks = B * H * qblocks;
  // K and V of each (batch, head) packed once into micro-kernel panels: K as key groups
  // [Lk/4][D][4], V as head-dim groups [D/4][Lk][4] (zero-padded to whole groups).
  const int64_t kgroups = (Lk + kPanel - 1) / kPanel, dgroups = (D + kPanel - 1) / kPanel;
  const int64_t kpanel_size = kgroups * D * kPanel, vpanel_size = dgroups * Lk * kPanel;
  Tensor kpack = Tensor::empty({B * H * kpanel_size}), vpack = Tensor::empty({B * H * vpanel_size});
  float* kpk = kpack.data<float>();
  float* vpk = vpack.data<float>();
  constexpr float kNegInf = -__builtin_inff();

#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < B * H; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      pack_rows(kp + (b * Lk * HD + h * D), HD, Lk, D, kpk + bh * kpanel_size);
      pack_cols(vp + (b * Lk * HD + h * D), HD, Lk, D, vpk + bh * vpanel_size);
    }
    // Per-thread blocks, query index fastest: Qᵀ [D][kQBlock], Sᵀ/Pᵀ [kKBlock][kQBlock],
    // Oᵀ [D rounded up to kPanel][kQBlock]; the running max, denominator and rescale factor
    // per query vector.
    std::vector<v8f> Qt(D * kQVecs), S(kKBlock * kQVecs), O(dgroups * kPanel * kQVecs);
    v8f mrow[kQVecs], lrow[kQVecs], corr[kQVecs];
    float* qt = reinterpret_cast<float*>(Qt.data());
    float* s = reinterpret_cast<float*>(S.data());
    float* o = reinterpret_cast<float*>(O.data());
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t qb = t % qblocks, h = (t / qblocks) % H, b = t / (qblocks * H);
      const int64_t q0 = qb * kQBlock, nq = std::min(kQBlock, Lq - q0), nvec = (nq + 7) / 8;
      // Scaled queries, transposed; lanes past nq are zero (their results are dropped).
      std::fill(qt, qt + D * kQBlock, 0.f);
      for (int64_t i = 0; i < nq; ++i) {
        const float* src = qp + ((b * Lq + q0 + i) * HD + h * D);
        for (int64_t d = 0; d < D; ++d) qt[d * kQBlock + i] = src[d] * scale;
      }
      std::fill(o, o + dgroups * kPanel * kQBlock, 0.f);
      for (int64_t w = 0; w < kQVecs; ++w) {
        mrow[w] = splat8(kNegInf);
        lrow[w] = v8f{};
      }
      const float* kh = kpk + (b * H + h) * kpanel_size;
      const float* vh = vpk + (b * H + h) * vpanel_size;
      for (int64_t k0 = 0; k0 < Lk; k0 += kKBlock) {
        const int64_t nk = std::min(kKBlock, Lk - k0);
        // Sᵀ[j][i] = Σ_d K[k0 + j][d] · Qᵀ[d][i] (rows past nk are padding, never read)
        for (int64_t j = 0; j < nk; j += kPanel) {
          tile_row<false>(kh + (k0 + j) * D, qt, kQBlock, D, s + j * kQBlock, kQBlock, corr, nvec);
        }
        if (m.data) {
          for (int64_t j = 0; j < nk; ++j) {
            const float* mr = m.data + b * m.sb + h * m.sh + q0 * m.si + (k0 + j) * m.sj;
            float* sr = s + j * kQBlock;
            for (int64_t i = 0; i < nq; ++i) sr[i] += mr[i * m.si];
          }
        }
        // Online softmax, lane-wise per query.
        for (int64_t w = 0; w < nvec; ++w) {
          v8f bmax = splat8(kNegInf);
          for (int64_t j = 0; j < nk; ++j) {
            bmax = max8v(bmax, S[j * kQVecs + w]);
          }
          const v8f mnew = max8v(mrow[w], bmax);
          // Queries whose keys are all -inf so far keep p = 0 (exp(-inf - 0)), not NaN.
          const v8f msafe = mnew == kNegInf ? v8f{} : mnew;
          corr[w] = exp8_nonpos(mrow[w] - msafe);
          v8f psum = {};
          for (int64_t j = 0; j < nk; ++j) {
            const v8f p = exp8_nonpos(S[j * kQVecs + w] - msafe);
            S[j * kQVecs + w] = p;
            psum += p;
          }
          lrow[w] = lrow[w] * corr[w] + psum;
          mrow[w] = mnew;
        }
        // Oᵀ[d][i] = Oᵀ[d][i] · corr[i] + Σ_j V[k0 + j][d] · Pᵀ[j][i]
        for (int64_t g = 0; g < dgroups; ++g) {
          tile_row<true>(vh + (g * Lk + k0) * kPanel, s, kQBlock, nk, o + g * kPanel * kQBlock,
                         kQBlock, corr, nvec);
        }
      }
      // A query whose keys are all masked with -inf has l = 0 and gives 0/0 = NaN, as in
      // PyTorch.
      const float* l = reinterpret_cast<const float*>(lrow);
      for (int64_t i = 0; i < nq; ++i) {
        const float inv = 1.f / l[i];
        float* dst = op_ + ((b * Lq + q0 + i) * HD + h * D);
        for (int64_t d = 0; d < D; ++d) dst[d] = o[d * kQBlock + i] * inv;
      }
    }
  }
  return out;
}

}  // namespace ipa::ops
