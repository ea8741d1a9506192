#include "ops/op_checks.h"

#include <algorithm>

#include "base/error.h"

namespace ipa::ops {

void fail(const char* op, const std::string& what, const Tensor& t) {
  throw Error(std::string(op) + ": " + what + " (got " +
              (t.defined() ? t.describe() : std::string("an undefined tensor")) + ")");
}

void fail(const char* op, const std::string& what) {
  throw Error(std::string(op) + ": " + what);
}

void check_rank(const Tensor& t, int64_t rank, const char* op, const char* arg) {
  if (t.dim() != rank) {
    fail(op, std::string(arg) + " must have rank " + std::to_string(rank), t);
  }
}

Shape broadcast_shape(const Tensor& a, const Tensor& b, const char* op) {
  const int64_t rank = std::max(a.dim(), b.dim());
  Shape out(rank);
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.dim() ? 1 : a.shape()[i - (rank - a.dim())];
    const int64_t db = i < rank - b.dim() ? 1 : b.shape()[i - (rank - b.dim())];
    if (da != db && da != 1 && db != 1) {
      fail(op, "shapes " + a.describe() + " and " + b.describe() + " do not broadcast");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const Tensor& t, const Shape& out) {
  const int64_t rank = static_cast<int64_t>(out.size()), off = rank - t.dim();
  const Shape st = contiguous_strides(t.shape());
  Shape r(rank, 0);
  for (int64_t i = off; i < rank; ++i) r[i] = t.shape()[i - off] == 1 ? 0 : st[i - off];
  return r;
}

MatmulShapes matmul_shapes(const Tensor& a, const Tensor& b, bool trans_b) {
  const char* op = "matmul";
  if (a.dim() < 2 || b.dim() < 2) {
    fail(op, "a and b need rank >= 2, got a " + a.describe() + " and b " + b.describe());
  }
  MatmulShapes s;
  s.rank = std::max(a.dim(), b.dim());
  auto padded = [rank = s.rank](const Shape& shape) {
    Shape p(rank - shape.size(), 1);
    p.insert(p.end(), shape.begin(), shape.end());
    return p;
  };
  s.a = padded(a.shape());
  s.b = padded(b.shape());
  const int64_t rank = s.rank;
  s.M = s.a[rank - 2];
  s.K = s.a[rank - 1];
  s.N = trans_b ? s.b[rank - 2] : s.b[rank - 1];
  const int64_t Kb = trans_b ? s.b[rank - 1] : s.b[rank - 2];
  s.names = "a " + a.describe() + ", b " + b.describe() + (trans_b ? " (b transposed)" : "");
  if (s.K != Kb) fail(op, "inner dimensions differ: " + s.names);
  s.out.resize(rank);
  for (int64_t d = 0; d < rank - 2; ++d) {
    if (s.a[d] != s.b[d] && s.a[d] != 1 && s.b[d] != 1) {
      fail(op, "batch dimensions do not broadcast: " + s.names);
    }
    s.out[d] = std::max(s.a[d], s.b[d]);
  }
  s.out[rank - 2] = s.M;
  s.out[rank - 1] = s.N;
  return s;
}

MaskView attention_mask_view(const Tensor& mask, int64_t B, int64_t H, int64_t Lq, int64_t Lk) {
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

ArgmaxShape argmax_shape(const Tensor& x, int64_t dim) {
  const char* op = "argmax";
  if (x.dim() < 1) fail(op, "x must have at least one dimension", x);
  ArgmaxShape s;
  s.dim = dim < 0 ? dim + x.dim() : dim;
  if (s.dim < 0 || s.dim >= x.dim()) {
    fail(op, "dimension " + std::to_string(dim) + " out of range", x);
  }
  s.size = x.size(s.dim);
  if (s.size == 0) fail(op, "cannot take the argmax of an empty dimension", x);
  for (int64_t k = 0; k < s.dim; ++k) s.outer *= x.size(k);
  for (int64_t k = s.dim + 1; k < x.dim(); ++k) s.inner *= x.size(k);
  s.out = x.shape();
  s.out.erase(s.out.begin() + s.dim);
  return s;
}

void check_attention_ranks(const Tensor& q, const Tensor& k, const Tensor& v) {
  const char* op = "attention";
  check_rank(q, 3, op, "q [B, Lq, H*D]");
  check_rank(k, 3, op, "k [B, Lk, H*D]");
  check_rank(v, 3, op, "v [B, Lk, H*D]");
}

AttentionDims attention_dims(const Tensor& q, const Tensor& k, const Tensor& v, int heads) {
  const char* op = "attention";
  check_attention_ranks(q, k, v);
  AttentionDims d;
  d.B = q.size(0);
  d.Lq = q.size(1);
  d.HD = q.size(2);
  d.Lk = k.size(1);
  if (heads < 1 || d.HD % heads != 0) {
    fail(op, "q's last dim does not split into " + std::to_string(heads) + " heads", q);
  }
  if (k.size(0) != d.B || k.size(2) != d.HD || v.shape() != k.shape()) {
    fail(op, "q " + q.describe() + ", k " + k.describe() + " and v " + v.describe() +
                 " do not agree (k and v must be [B, Lk, H*D] with q's B and H*D)");
  }
  d.H = heads;
  d.D = d.HD / d.H;
  return d;
}

void check_interpolate(const Tensor& x, int64_t out_h, int64_t out_w) {
  const char* op = "interpolate";
  check_rank(x, 4, op, "x [N, C, H, W]");
  const int64_t H = x.size(2), W = x.size(3);
  if (out_h < 1 || out_w < 1 || H < 1 || W < 1) {
    fail(op,
         "input and output sizes must be positive, output " + std::to_string(out_h) + "x" +
             std::to_string(out_w),
         x);
  }
}

void check_group_norm(const Tensor& x, int groups) {
  const char* op = "group_norm";
  if (x.dim() < 2) fail(op, "x must be [N, C, ...]", x);
  const int64_t C = x.size(1);
  if (groups < 1 || C % groups != 0) {
    fail(op,
         std::to_string(C) + " channels do not split into " + std::to_string(groups) + " groups",
         x);
  }
}

}  // namespace ipa::ops
