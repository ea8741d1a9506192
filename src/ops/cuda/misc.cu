// embedding, argmax and the sinusoidal timestep embedding on the GPU.
#include <cmath>
#include <string>
#include <vector>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/cuda_util.h"
#include "ops/cuda/kernel_util.cuh"

namespace ipa::ops::cuda {

namespace {

template <typename T, typename I>
__global__ void embedding_kernel(T* __restrict__ y, const T* __restrict__ table,
                                 const I* __restrict__ ids, int64_t n, int64_t d) {
  IPA_GRID_STRIDE(i, n * d) {
    y[i] = table[static_cast<int64_t>(ids[i / d]) * d + i % d];
  }
}

// First maximum along the reduced dim; a NaN wins (and stops the search), as in PyTorch.
template <typename T>
__global__ void argmax_kernel(int64_t* __restrict__ out, const T* __restrict__ x, int64_t outer,
                              int64_t n, int64_t inner) {
  IPA_GRID_STRIDE(idx, outer * inner) {
    const int64_t o = idx / inner, i = idx % inner;
    const T* base = x + o * n * inner + i;
    int64_t best = 0;
    float bv = to_f32(base[0]);
    for (int64_t j = 1; j < n && !isnan(bv); ++j) {
      const float v = to_f32(base[j * inner]);
      if (v > bv || isnan(v)) {
        bv = v;
        best = j;
      }
    }
    out[idx] = best;
  }
}

// y[b, :] = [cos | sin](t[b] · freq) (or [sin | cos]); an odd dim's last column is 0.
template <typename T>
__global__ void timestep_kernel(T* __restrict__ y, const T* __restrict__ t,
                                const float* __restrict__ freq, int64_t batch, int64_t dim,
                                int64_t half, bool flip_sin_to_cos) {
  IPA_GRID_STRIDE(idx, batch * dim) {
    const int64_t b = idx / dim, j = idx % dim;
    float v = 0.f;
    if (j < 2 * half) {
      const int64_t i = j < half ? j : j - half;
      const float arg = to_f32(t[b]) * freq[i];
      const bool first = j < half;
      v = (first == flip_sin_to_cos) ? cosf(arg) : sinf(arg);
    }
    y[idx] = from_f32<T>(v);
  }
}

}  // namespace

Tensor embedding(const Tensor& table_in, const Tensor& ids_in) {
  const char* op = "embedding";
  if (!table_in.defined() || !ids_in.defined()) fail(op, "table and ids must be defined");
  Tensor table = device_input(table_in, op, "table");
  check_rank(table, 2, op, "table [V, D]");
  if (ids_in.dtype() != DType::I64 && ids_in.dtype() != DType::I32) {
    fail(op, "ids must be I64 or I32", ids_in);
  }
  if (!(ids_in.device() == table.device())) fail(op, "ids must be on the table's device", ids_in);
  const Tensor ids = ids_in.contiguous();
  const int64_t V = table.size(0), D = table.size(1), n = ids.numel();
  // Out-of-range ids are an error before anything runs: the ids (a prompt's tokens) are
  // copied to the host to check them, once per text encoding.
  const Tensor host_ids = ids.to(Device{});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id =
        ids.dtype() == DType::I64 ? host_ids.data<int64_t>()[i] : host_ids.data<int32_t>()[i];
    if (id < 0 || id >= V) {
      fail(op,
           "id " + std::to_string(id) + " at position " + std::to_string(i) +
               " is outside the table's " + std::to_string(V) + " rows",
           table);
    }
  }
  Shape out = ids.shape();
  out.push_back(D);
  Tensor y = Tensor::empty_on(table.device(), out, table.dtype());
  if (n * D == 0) return y;
  Context& c = context_of(table);
  dispatch_float(table.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    T* yp = static_cast<T*>(y.device_data_mutable());
    const T* tp = static_cast<const T*>(table.device_data());
    if (ids.dtype() == DType::I64) {
      embedding_kernel<T, int64_t><<<grid_for(n * D), kThreads, 0, c.stream>>>(
          yp, tp, static_cast<const int64_t*>(ids.device_data()), n, D);
    } else {
      embedding_kernel<T, int32_t><<<grid_for(n * D), kThreads, 0, c.stream>>>(
          yp, tp, static_cast<const int32_t*>(ids.device_data()), n, D);
    }
  });
  check_launch(op, "embedding_kernel");
  return y;
}

Tensor argmax(const Tensor& x_in, int64_t dim) {
  const char* op = "argmax";
  Tensor x = device_input(x_in, op, "x");
  const ArgmaxShape s = argmax_shape(x, dim);
  const int64_t outer = s.outer, n = s.size, inner = s.inner;
  Tensor y = Tensor::empty_on(x.device(), s.out, DType::I64);
  if (outer * inner == 0) return y;
  Context& c = context_of(x);
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    argmax_kernel<T><<<grid_for(outer * inner), kThreads, 0, c.stream>>>(
        static_cast<int64_t*>(y.device_data_mutable()), static_cast<const T*>(x.device_data()),
        outer, n, inner);
  });
  check_launch(op, "argmax_kernel");
  return y;
}

Tensor timestep_embedding(const Tensor& t_in, int64_t dim, bool flip_sin_to_cos, float freq_shift,
                          float max_period) {
  const char* op = "timestep_embedding";
  if (!t_in.defined()) fail(op, "t must be defined");
  Tensor t = device_input(t_in, op, "t");
  if (t.dim() != 1) fail(op, "t must be one-dimensional [B]", t);
  if (dim < 1) fail(op, "dim must be positive, got " + std::to_string(dim));
  const int64_t half = dim / 2, B = t.size(0);
  // The frequencies exactly as the CPU op (and diffusers, in float32) computes them, on the
  // host; one small asynchronous upload.
  std::vector<float> freq(std::max<int64_t>(half, 1), 0.f);
  const float neg_log = static_cast<float>(-std::log(static_cast<double>(max_period)));
  const float denom = static_cast<float>(static_cast<double>(half) - freq_shift);
  for (int64_t i = 0; i < half; ++i) {
    freq[i] = std::exp(static_cast<float>(i) * neg_log / denom);
  }
  const Tensor freq_dev =
      Tensor::from_vector({static_cast<int64_t>(freq.size())}, freq).to(t.device());
  Tensor y = Tensor::empty_on(t.device(), {B, dim}, t.dtype());
  if (B == 0) return y;
  Context& c = context_of(t);
  dispatch_float(t.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    timestep_kernel<T><<<grid_for(B * dim), kThreads, 0, c.stream>>>(
        static_cast<T*>(y.device_data_mutable()), static_cast<const T*>(t.device_data()),
        static_cast<const float*>(freq_dev.device_data()), B, dim, half, flip_sin_to_cos);
  });
  check_launch(op, "timestep_kernel");
  return y;
}

}  // namespace ipa::ops::cuda
