// Lookups and resampling: embedding, argmax, nearest/bilinear/bicubic interpolation and the
// sinusoidal timestep embedding. Index formulas follow PyTorch's CPU kernels (float scales),
// so that sizes whose ratio is not exact pick the same source pixels.
#include <immintrin.h>
#include <algorithm>
#include <cmath>

#include <cstring>
#include <vector>

#include "ops/cpu/cpu_util.h"
#include "ops/interp_taps.h"
#include "ops/profile.h"
#include "tensor/half.h"

namespace ipa::ops {

using namespace cpu;

Tensor embedding(const Tensor& table_in, const Tensor& ids_in) {
  if (Backend* be = backend_for("embedding", {&table_in, &ids_in}))
    return be->embedding(table_in, ids_in);
  profile::OpScope prof("embedding");
  const char* op = "embedding";
  if (!table_in.defined() || !ids_in.defined()) fail(op, "table and ids must be defined");
  const DType tt = table_in.dtype();
  if (tt != DType::F32 && tt != DType::F16 && tt != DType::BF16) {
    fail(op, "table must be F32, F16 or BF16", table_in);
  }
  check_rank(table_in, 2, op, "table [V, D]");
  if (ids_in.dtype() != DType::I64 && ids_in.dtype() != DType::I32) {
    fail(op, "ids must be I64 or I32", ids_in);
  }
  const Tensor table = table_in.contiguous(), ids = ids_in.contiguous();
  const int64_t V = table.size(0), D = table.size(1), n = ids.numel();
  Shape out = ids.shape();
  out.push_back(D);
  Tensor y = Tensor::empty(out);
  float* d = y.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = ids.dtype() == DType::I64 ? ids.data<int64_t>()[i] : ids.data<int32_t>()[i];
    if (id < 0 || id >= V) {
      fail(op,
           "id " + std::to_string(id) + " at position " + std::to_string(i) +
               " is outside the table's " + std::to_string(V) + " rows",
           table);
    }
    float* row = d + i * D;
    switch (tt) {
      case DType::F32:
        std::copy_n(table.data<float>() + id * D, D, row);
        break;
      case DType::F16:
        f16_to_f32(static_cast<const uint16_t*>(table.raw()) + id * D, row, D);
        break;
      default:
        bf16_to_f32(static_cast<const uint16_t*>(table.raw()) + id * D, row, D);
        break;
    }
  }
  return y;
}

Tensor argmax(const Tensor& x_in, int64_t dim) {
  if (Backend* be = backend_for("argmax", {&x_in})) return be->argmax(x_in, dim);
  const char* op = "argmax";
  Tensor x = f32_input(x_in, op, "x");
  const ArgmaxShape s = argmax_shape(x, dim);
  const int64_t outer = s.outer, n = s.size, inner = s.inner;
  Tensor y = Tensor::empty(s.out, DType::I64);
  const float* p = x.data<float>();
  int64_t* r = y.data<int64_t>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const float* base = p + o * n * inner + i;
      int64_t best = 0;
      float bv = base[0];
      for (int64_t j = 1; j < n && !std::isnan(bv); ++j) {
        const float v = base[j * inner];
        if (v > bv || std::isnan(v)) {  // NaN wins, as in PyTorch
          bv = v;
          best = j;
        }
      }
      r[o * inner + i] = best;
    }
  }
  return y;
}

Tensor timestep_embedding(const Tensor& t_in, int64_t dim, bool flip_sin_to_cos, float freq_shift,
                          float max_period) {
  if (Backend* be = backend_for("timestep_embedding", {&t_in})) {
    return be->timestep_embedding(t_in, dim, flip_sin_to_cos, freq_shift, max_period);
  }
  const char* op = "timestep_embedding";
  if (!t_in.defined()) fail(op, "t must be defined");
  if (t_in.dim() != 1) fail(op, "t must be one-dimensional [B]", t_in);
  if (dim < 1) fail(op, "dim must be positive, got " + std::to_string(dim));
  const int64_t half = dim / 2, B = t_in.size(0);
  const std::vector<float> t = t_in.to_floats();
  // diffusers computes the frequencies in float32: exp(-ln(max_period) · i / (half - shift)).
  std::vector<float> freq(half);
  const float neg_log = static_cast<float>(-std::log(static_cast<double>(max_period)));
  const float denom = static_cast<float>(static_cast<double>(half) - freq_shift);
  for (int64_t i = 0; i < half; ++i) {
    freq[i] = std::exp(static_cast<float>(i) * neg_log / denom);
  }
  Tensor y = Tensor::zeros({B, dim});
  float* d = y.data<float>();
  for (int64_t b = 0; b < B; ++b) {
    float* row = d + b * dim;
    for (int64_t i = 0; i < half; ++i) {
      const float arg = t[b] * freq[i];
      const float s = std::sin(arg), c = std::cos(arg);
      row[i] = flip_sin_to_cos ? c : s;
      row[half + i] = flip_sin_to_cos ? s : c;
    }
    // odd dim: the last column stays zero (diffusers pads one column)
  }
  return y;
}

Tensor interpolate(const Tensor& x_in, int64_t out_h, int64_t out_w, Interp mode,
                   bool align_corners) {
  if (Backend* be = backend_for("interpolate", {&x_in})) {
    return be->interpolate(x_in, out_h, out_w, mode, align_corners);
  }
  profile::OpScope prof("interpolate");
  const char* op = "interpolate";
  Tensor x = f32_input(x_in, op, "x");
  check_interpolate(x, out_h, out_w);
  const int64_t H = x.size(2), W = x.size(3);
  const InterpTaps ty = interp_taps(H, out_h, mode, align_corners);
  const InterpTaps tx = interp_taps(W, out_w, mode, align_corners);
  const int64_t planes = x.size(0) * x.size(1);
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w});
  const float* src = x.data<float>();
  float* dst = y.data<float>();
#pragma omp parallel for schedule(static) if (planes * out_h * out_w > (1 << 14))
  for (int64_t p = 0; p < planes; ++p) {
    const float* plane = src + p * H * W;
    float* o = dst + p * out_h * out_w;
    for (int64_t oy = 0; oy < out_h; ++oy) {
      for (int64_t ox = 0; ox < out_w; ++ox) {
        float acc = 0.f;
        for (int a = 0; a < ty.n; ++a) {
          const float* row = plane + ty.idx[oy * 4 + a] * W;
          float r = 0.f;  // interpolate along x first, then combine rows (as PyTorch does)
          for (int b = 0; b < tx.n; ++b) r += tx.w[ox * 4 + b] * row[tx.idx[ox * 4 + b]];
          acc += ty.w[oy * 4 + a] * r;
        }
        o[oy * out_w + ox] = acc;
      }
    }
  }
  return y;
}

Tensor upsample_nearest(const Tensor& x, int64_t out_h, int64_t out_w) {
  if (Backend* be = backend_for("upsample_nearest", {&x}))
    return be->upsample_nearest(x, out_h, out_w);
  profile::OpScope prof("upsample_nearest");
  if (!is_channels_last(x) || x.dtype() != DType::F32 || out_h < 1 || out_w < 1) {
    return interpolate(x, out_h, out_w, Interp::Nearest);
  }
  // Channels-last: each output pixel is a copy of one input pixel's C values.
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const InterpTaps ty = interp_taps(H, out_h, Interp::Nearest, false);
  const InterpTaps tx = interp_taps(W, out_w, Interp::Nearest, false);
  Tensor y = empty_channels_last({N, C, out_h, out_w});
  const float* src = static_cast<const float*>(x.raw());
  float* dst = static_cast<float*>(y.raw_mutable());
  // Per input row: the output rows it feeds, pixel by pixel.
  std::vector<int64_t> first_out(static_cast<size_t>(H), -1), last_out(static_cast<size_t>(H), -1);
  for (int64_t oy = 0; oy < out_h; ++oy) {
    const int64_t iy = ty.idx[oy * 4];
    if (first_out[iy] < 0) first_out[iy] = oy;
    last_out[iy] = oy;
  }
  // A large output (the VAE's, 4× its input) is written with non-temporal stores: it cannot
  // stay in the caches, and they skip reading each line before writing it.
  const bool stream = y.nbytes() > (size_t(16) << 20) && C % 8 == 0;
  auto copy = [stream](float* to, const float* from, int64_t n) {
    if (!stream) {
      std::memcpy(to, from, static_cast<size_t>(n) * sizeof(float));
      return;
    }
    for (int64_t i = 0; i < n; i += 8) _mm256_stream_ps(to + i, _mm256_loadu_ps(from + i));
  };
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < N * H; ++r) {
    const int64_t n = r / H, iy = r % H;
    if (first_out[iy] < 0) continue;  // downsampling: this input row is skipped
    const float* in_row = src + r * W * C;
    // Nearest source rows are non-decreasing in oy, so one input row's outputs are contiguous
    // (each built from the input: streamed rows are not read back).
    for (int64_t oy = first_out[iy]; oy <= last_out[iy]; ++oy) {
      float* out_row = dst + (n * out_h + oy) * out_w * C;
      for (int64_t ox = 0; ox < out_w; ++ox) copy(out_row + ox * C, in_row + tx.idx[ox * 4] * C, C);
    }
    if (stream) _mm_sfence();
  }
  return y;
}

}  // namespace ipa::ops
