// concat / slice / permute: contiguous copies, any dtype (byte copies by element size).
#include <cstring>

#include "ops/cpu/cpu_util.h"
#include "ops/profile.h"

namespace ipa::ops {

using namespace cpu;

namespace {

int64_t wrap(int64_t dim, int64_t rank, const char* op, const Tensor& t) {
  const int64_t d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank) fail(op, "dimension " + std::to_string(dim) + " out of range", t);
  return d;
}

// Copies the (possibly strided) view `src` into contiguous `dst` of the same shape. Rows of
// the last dimension are the unit of parallel work.
void strided_copy(const Tensor& src, Tensor& dst) {
  const int64_t n = src.numel();
  if (n == 0) return;
  const size_t es = dtype_size(src.dtype());
  const Shape& shape = src.shape();
  const Shape& st = src.strides();
  const int64_t rank = src.dim();
  const int64_t inner = rank ? shape.back() : 1, rows = n / inner;
  const int64_t istride = rank ? st.back() : 1;
  const char* s = static_cast<const char*>(src.raw());
  char* d = static_cast<char*>(dst.raw_mutable());
#pragma omp parallel for schedule(static) if (n > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    int64_t off = 0, rem = r;
    for (int64_t k = rank - 2; k >= 0; --k) {
      off += (rem % shape[k]) * st[k];
      rem /= shape[k];
    }
    const char* ps = s + off * static_cast<int64_t>(es);
    char* pd = d + r * inner * static_cast<int64_t>(es);
    if (istride == 1) {
      std::memcpy(pd, ps, inner * es);
    } else if (es == 4) {
      for (int64_t i = 0; i < inner; ++i) {
        std::memcpy(pd + i * 4, ps + i * istride * 4, 4);
      }
    } else {
      for (int64_t i = 0; i < inner; ++i) {
        std::memcpy(pd + i * es, ps + i * istride * static_cast<int64_t>(es), es);
      }
    }
  }
}

Tensor copy_of(const Tensor& view) {
  if (!view.on_host()) return view.clone();  // a device copy through its DeviceMemory
  Tensor out = Tensor::empty(view.shape(), view.dtype());
  strided_copy(view, out);
  return out;
}

// xs joined along dim d into a new contiguous tensor of shape `out` (checked by concat).
Tensor concat_contiguous(const std::vector<Tensor>& xs, int64_t d, const Shape& out) {
  const Tensor& first = xs.front();
  Tensor y = Tensor::empty(out, first.dtype());
  int64_t at = 0;
  for (const Tensor& t : xs) {
    Tensor part = y.narrow(d, at, t.size(d));
    at += t.size(d);
    if (t.numel() == 0) continue;
    // Copy t into the strided window of y: outer × (t's block along d and after).
    const Tensor tc = t.contiguous();
    const size_t es = dtype_size(t.dtype());
    int64_t outer = 1, block = 1;
    for (int64_t k = 0; k < d; ++k) outer *= out[k];
    for (int64_t k = d; k < t.dim(); ++k) block *= t.size(k);
    const int64_t ystride = block / t.size(d) * out[d];  // elements per outer index in y
    const char* s = static_cast<const char*>(tc.raw());
    char* dst = static_cast<char*>(part.raw_mutable());
#pragma omp parallel for schedule(static) if (outer * block > (1 << 15))
    for (int64_t o = 0; o < outer; ++o) {
      std::memcpy(dst + o * ystride * es, s + o * block * es, block * es);
    }
  }
  return y;
}

}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  profile::OpScope prof("concat");
  const char* op = "concat";
  if (xs.empty()) fail(op, "needs at least one tensor");
  for (const Tensor& t : xs) {
    if (!t.defined()) fail(op, "inputs must be defined tensors");
  }
  if (Backend* be = backend_for(op, xs)) return be->concat(xs, dim);
  const Tensor& first = xs.front();
  const int64_t d = wrap(dim, first.dim(), op, first);
  Shape out = first.shape();
  out[d] = 0;
  for (const Tensor& t : xs) {
    bool ok = t.dim() == first.dim() && t.dtype() == first.dtype();
    for (int64_t k = 0; ok && k < t.dim(); ++k) ok = k == d || t.size(k) == first.size(k);
    if (!ok) {
      fail(op, "tensors must agree except in dim " + std::to_string(d) + ": " + first.describe() +
                   " vs " + t.describe());
    }
    out[d] += t.size(d);
  }
  // Channels-last inputs joined along C: a concat of their [N, H, W, C] storages along the
  // last dim, viewed back as [N, C, H, W] (channels-last too).
  bool channels_last = d == 1;
  for (const Tensor& t : xs) channels_last = channels_last && is_channels_last(t);
  if (channels_last) {
    std::vector<Tensor> storages;
    for (const Tensor& t : xs) storages.push_back(t.permute({0, 2, 3, 1}));
    return concat_contiguous(storages, 3, {out[0], out[2], out[3], out[1]}).permute({0, 3, 1, 2});
  }
  return concat_contiguous(xs, d, out);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end) {
  profile::OpScope prof("slice");
  const char* op = "slice";
  if (!x.defined()) fail(op, "x must be defined");
  const int64_t d = wrap(dim, x.dim(), op, x);
  const int64_t n = x.size(d);
  if (start < 0) start += n;
  if (end < 0) end += n;
  if (start < 0 || end > n || start > end) {
    fail(op,
         "range [" + std::to_string(start) + ", " + std::to_string(end) + ") is outside dim " +
             std::to_string(d) + " of size " + std::to_string(n),
         x);
  }
  return copy_of(x.narrow(d, start, end - start));
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  profile::OpScope prof("permute");
  if (!x.defined()) fail("permute", "x must be defined");
  if (static_cast<int64_t>(dims.size()) != x.dim()) {
    fail("permute",
         "needs " + std::to_string(x.dim()) + " dims, got " + std::to_string(dims.size()), x);
  }
  return copy_of(x.permute(dims));
}

}  // namespace ipa::ops
