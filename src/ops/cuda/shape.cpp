// concat on the GPU: one 2-D copy per input into its window of the output (any dtype).
#include <string>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/cuda_util.h"

namespace ipa::ops::cuda {

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  const char* op = "concat";
  if (xs.empty()) fail(op, "needs at least one tensor");
  for (const Tensor& t : xs) {
    if (!t.defined()) fail(op, "inputs must be defined tensors");
  }
  const Tensor& first = xs.front();
  const int64_t d = dim < 0 ? dim + first.dim() : dim;
  if (d < 0 || d >= first.dim()) {
    fail(op, "dimension " + std::to_string(dim) + " out of range", first);
  }
  Shape out = first.shape();
  out[d] = 0;
  for (const Tensor& t : xs) {
    bool ok = t.dim() == first.dim() && t.dtype() == first.dtype() && t.device() == first.device();
    for (int64_t k = 0; ok && k < t.dim(); ++k) ok = k == d || t.size(k) == first.size(k);
    if (!ok) {
      fail(op, "tensors must agree (dtype, device, and shape except in dim " + std::to_string(d) +
                   "): " + first.describe() + " vs " + t.describe());
    }
    out[d] += t.size(d);
  }
  Tensor y = Tensor::empty_on(first.device(), out, first.dtype());
  if (y.numel() == 0) return y;
  Context& ctx = context_of(first);
  const size_t es = dtype_size(first.dtype());
  int64_t outer = 1;
  for (int64_t k = 0; k < d; ++k) outer *= out[k];
  int64_t at = 0;
  for (const Tensor& t : xs) {
    const int64_t len = t.size(d);
    Tensor part = y.narrow(d, at, len);
    at += len;
    if (t.numel() == 0) continue;
    const Tensor tc = t.contiguous();
    const int64_t block = tc.numel() / outer;      // t's elements per outer index
    const int64_t ystride = block / len * out[d];  // y's elements per outer index
    check(cudaMemcpy2DAsync(part.device_data_mutable(), ystride * es, tc.device_data(), block * es,
                            block * es, outer, cudaMemcpyDeviceToDevice, ctx.stream),
          op, "cudaMemcpy2DAsync", [&] { return t.describe() + " into " + y.describe(); });
  }
  return y;
}

}  // namespace ipa::ops::cuda
