// Flash-style attention: for each (batch, head, block of queries) walk the keys in blocks,
// keep a running row maximum and denominator (online softmax) and accumulate P·V in F32.
// Memory per thread is O(query block · key block). The two small GEMMs per block use
// register-tiled micro-kernels written with GCC vector extensions (8 floats = one AVX2 vector).
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/cpu_util.h"
#include "ops/cpu/reduce.h"

namespace ipa::ops {

using namespace cpu;

namespace {

constexpr int64_t kQBlock = 64;   // query rows per task (multiple of 4)
constexpr int64_t kKBlock = 128;  // keys per inner block (multiple of 16)

inline int64_t round_up(int64_t v, int64_t m) {
  return (v + m - 1) / m * m;
}

// S[Bq][kKBlock] (cols [0, ncols)) = Q[Bq][ldq] (first D) · Kt[D][kKBlock]; Bq % 4 == 0,
// ncols % 16 == 0.
void qk_block(const float* Q, int64_t ldq, const float* Kt, int64_t D, int64_t rows, int64_t ncols,
              float* S) {
  for (int64_t i = 0; i < rows; i += 4) {
    const float* q0 = Q + i * ldq;
    for (int64_t j = 0; j < ncols; j += 16) {
      v8f a00 = {}, a01 = {}, a10 = {}, a11 = {}, a20 = {}, a21 = {}, a30 = {}, a31 = {};
      const float* kp = Kt + j;
      for (int64_t d = 0; d < D; ++d, kp += kKBlock) {
        const v8f k0 = load8(kp), k1 = load8(kp + 8);
        const v8f b0 = splat8(q0[d]), b1 = splat8(q0[ldq + d]), b2 = splat8(q0[2 * ldq + d]),
                  b3 = splat8(q0[3 * ldq + d]);
        a00 += b0 * k0;
        a01 += b0 * k1;
        a10 += b1 * k0;
        a11 += b1 * k1;
        a20 += b2 * k0;
        a21 += b2 * k1;
        a30 += b3 * k0;
        a31 += b3 * k1;
      }
      float* s = S + i * kKBlock + j;
      store8(s, a00);
      store8(s + 8, a01);
      store8(s + kKBlock, a10);
      store8(s + kKBlock + 8, a11);
      store8(s + 2 * kKBlock, a20);
      store8(s + 2 * kKBlock + 8, a21);
      store8(s + 3 * kKBlock, a30);
      store8(s + 3 * kKBlock + 8, a31);
    }
  }
}

// O[rows][ldo] += P[rows][kKBlock] (cols < nk) · V[nk][ldo]; rows % 4 == 0, ldo % 8 == 0.
void pv_block(const float* P, const float* V, int64_t nk, int64_t rows, int64_t ldo, float* O) {
  for (int64_t i = 0; i < rows; i += 4) {
    const float* p = P + i * kKBlock;
    float* o = O + i * ldo;
    int64_t d = 0;
    for (; d + 16 <= ldo; d += 16) {
      v8f a00 = load8(o + d), a01 = load8(o + d + 8), a10 = load8(o + ldo + d),
          a11 = load8(o + ldo + d + 8), a20 = load8(o + 2 * ldo + d),
          a21 = load8(o + 2 * ldo + d + 8), a30 = load8(o + 3 * ldo + d),
          a31 = load8(o + 3 * ldo + d + 8);
      const float* vp = V + d;
      for (int64_t j = 0; j < nk; ++j, vp += ldo) {
        const v8f v0 = load8(vp), v1 = load8(vp + 8);
        const v8f b0 = splat8(p[j]), b1 = splat8(p[kKBlock + j]), b2 = splat8(p[2 * kKBlock + j]),
                  b3 = splat8(p[3 * kKBlock + j]);
        a00 += b0 * v0;
        a01 += b0 * v1;
        a10 += b1 * v0;
        a11 += b1 * v1;
        a20 += b2 * v0;
        a21 += b2 * v1;
        a30 += b3 * v0;
        a31 += b3 * v1;
      }
      store8(o + d, a00);
      store8(o + d + 8, a01);
      store8(o + ldo + d, a10);
      store8(o + ldo + d + 8, a11);
      store8(o + 2 * ldo + d, a20);
      store8(o + 2 * ldo + d + 8, a21);
      store8(o + 3 * ldo + d, a30);
      store8(o + 3 * ldo + d + 8, a31);
    }
    for (; d < ldo; d += 8) {
      v8f a0 = load8(o + d), a1 = load8(o + ldo + d), a2 = load8(o + 2 * ldo + d),
          a3 = load8(o + 3 * ldo + d);
      const float* vp = V + d;
      for (int64_t j = 0; j < nk; ++j, vp += ldo) {
        const v8f v0 = load8(vp);
        a0 += splat8(p[j]) * v0;
        a1 += splat8(p[kKBlock + j]) * v0;
        a2 += splat8(p[2 * kKBlock + j]) * v0;
        a3 += splat8(p[3 * kKBlock + j]) * v0;
      }
      store8(o + d, a0);
      store8(o + ldo + d, a1);
      store8(o + 2 * ldo + d, a2);
      store8(o + 3 * ldo + d, a3);
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
  const int64_t H = heads, D = HD / H, Dp = round_up(std::max<int64_t>(D, 1), 8);
  Tensor mask = mask_in.defined() ? mask_in.contiguous() : Tensor();
  const MaskView mv = mask_view(mask, B, H, Lq, Lk);
  Tensor out = Tensor::empty({B, Lq, HD});
  if (out.numel() == 0) return out;
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

#pragma omp parallel
  {
    std::vector<float> Qb(kQBlock * Dp), Kt(std::max<int64_t>(D, 1) * kKBlock), Vb(kKBlock * Dp),
        S(kQBlock * kKBlock), O(kQBlock * Dp), mrow(kQBlock), lrow(kQBlock);
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t qb = t % qblocks, h = (t / qblocks) % H, b = t / (qblocks * H);
      const int64_t q0 = qb * kQBlock, nq = std::min(kQBlock, Lq - q0), nq4 = round_up(nq, 4);
      // Scaled queries, zero-padded to 4-row multiples.
      std::fill(Qb.begin(), Qb.begin() + nq4 * Dp, 0.f);
      for (int64_t i = 0; i < nq; ++i) {
        const float* src = qp + ((b * Lq + q0 + i) * HD + h * D);
        for (int64_t d = 0; d < D; ++d) Qb[i * Dp + d] = src[d] * scale;
      }
      std::fill(O.begin(), O.begin() + nq4 * Dp, 0.f);
      std::fill(mrow.begin(), mrow.end(), -__builtin_inff());
      std::fill(lrow.begin(), lrow.end(), 0.f);
      for (int64_t k0 = 0; k0 < Lk; k0 += kKBlock) {
        const int64_t nk = std::min(kKBlock, Lk - k0), nk16 = round_up(nk, 16);
        // Kᵀ block [D][kKBlock] and V block [nk][Dp], zero-padded.
        for (int64_t d = 0; d < D; ++d) {
          std::fill(Kt.begin() + d * kKBlock + nk, Kt.begin() + d * kKBlock + nk16, 0.f);
        }
        for (int64_t j = 0; j < nk; ++j) {
          const float* ks = kp + ((b * Lk + k0 + j) * HD + h * D);
          const float* vs = vp + ((b * Lk + k0 + j) * HD + h * D);
          for (int64_t d = 0; d < D; ++d) Kt[d * kKBlock + j] = ks[d];
          float* vd = Vb.data() + j * Dp;
          for (int64_t d = 0; d < D; ++d) vd[d] = vs[d];
          for (int64_t d = D; d < Dp; ++d) vd[d] = 0.f;
        }
        qk_block(Qb.data(), Dp, Kt.data(), D, nq4, nk16, S.data());
        for (int64_t i = 0; i < nq4; ++i) {
          float* s = S.data() + i * kKBlock;
          if (i >= nq) {  // padding rows contribute nothing
            std::fill(s, s + nk, 0.f);
            continue;
          }
          if (m.data) {
            const float* mr = m.data + b * m.sb + h * m.sh + (q0 + i) * m.si + k0 * m.sj;
            for (int64_t j = 0; j < nk; ++j) s[j] += mr[j * m.sj];
          }
          const float bmax = max8(s, nk);
          const float mnew = std::max(mrow[i], bmax);
          if (mnew == -__builtin_inff()) {  // everything masked so far: keep zeros
            std::fill(s, s + nk, 0.f);
            continue;
          }
          const float corr = exp_f32(mrow[i] - mnew);
          map8(s, s, nk, [mnew](v8f x) { return exp8(x - mnew); });
          const float psum = static_cast<float>(sum(s, nk));
          lrow[i] = lrow[i] * corr + psum;
          mrow[i] = mnew;
          if (corr != 1.f) {
            float* o = O.data() + i * Dp;
            for (int64_t d = 0; d < Dp; ++d) o[d] *= corr;
          }
        }
        pv_block(S.data(), Vb.data(), nk, nq4, Dp, O.data());
      }
      for (int64_t i = 0; i < nq; ++i) {
        // A row whose keys are all masked with -inf gives 0/0 = NaN, as in PyTorch.
        const float inv = 1.f / lrow[i];
        float* dst = op_ + ((b * Lq + q0 + i) * HD + h * D);
        const float* o = O.data() + i * Dp;
        for (int64_t d = 0; d < D; ++d) dst[d] = o[d] * inv;
      }
    }
  }
  return out;
}

}  // namespace ipa::ops
