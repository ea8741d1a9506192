// interpolate (nearest / bilinear / bicubic, align_corners) and zero padding of [N, C, H, W].
// The source taps and weights of each output row and column are computed on the host with the
// CPU op's float formulas (src/ops/cpu/misc.cpp, after PyTorch's CPU kernels), so both pick the
// same source pixels; the kernel combines them in the CPU op's order (along x, then rows).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/cuda_util.h"
#include "ops/cuda/kernel_util.cuh"

namespace ipa::ops::cuda {

namespace {

// Per output coordinate: 4 source indices and weights (unused taps have weight 0, index 0).
struct Taps {
  int n = 1;
  std::vector<int32_t> idx;  // [out, 4]
  std::vector<float> w;      // [out, 4]
};

// PyTorch's area_pixel_compute_scale and area_pixel_compute_source_index (float), as in the
// CPU op.
float pixel_scale(int64_t in, int64_t out, bool align_corners) {
  if (align_corners) {
    return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.f;
  }
  return static_cast<float>(in) / static_cast<float>(out);
}
float source_index(float scale, int64_t dst, bool align_corners, bool cubic) {
  if (align_corners) return scale * static_cast<float>(dst);
  const float src = scale * (static_cast<float>(dst) + 0.5f) - 0.5f;
  return (!cubic && src < 0.f) ? 0.f : src;
}
float cubic_inner(float x, float a) {
  return ((a + 2.f) * x - (a + 3.f)) * x * x + 1.f;
}
float cubic_outer(float x, float a) {
  return ((a * x - 5.f * a) * x + 8.f * a) * x - 4.f * a;
}

Taps make_taps(int64_t in, int64_t out, Interp mode, bool align_corners) {
  Taps t;
  t.idx.assign(out * 4, 0);
  t.w.assign(out * 4, 0.f);
  auto set = [&](int64_t o, int k, int64_t i, float w) {
    t.idx[o * 4 + k] = static_cast<int32_t>(i);
    t.w[o * 4 + k] = w;
  };
  if (mode == Interp::Nearest) {
    t.n = 1;
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    for (int64_t o = 0; o < out; ++o) {
      int64_t s;
      if (out == in)
        s = o;
      else if (out == 2 * in)
        s = o >> 1;
      else
        s = std::min(static_cast<int64_t>(std::floor(static_cast<float>(o) * scale)), in - 1);
      set(o, 0, s, 1.f);
    }
  } else if (mode == Interp::Bilinear) {
    t.n = 2;
    const float scale = pixel_scale(in, out, align_corners);
    for (int64_t o = 0; o < out; ++o) {
      const float src = source_index(scale, o, align_corners, false);
      const int64_t i0 = std::min(static_cast<int64_t>(src), in - 1);
      const int64_t i1 = i0 < in - 1 ? i0 + 1 : i0;
      const float l1 = std::clamp(src - static_cast<float>(i0), 0.f, 1.f);
      set(o, 0, i0, 1.f - l1);
      set(o, 1, i1, l1);
    }
  } else {
    t.n = 4;
    const float scale = pixel_scale(in, out, align_corners);
    const float A = -0.75f;
    for (int64_t o = 0; o < out; ++o) {
      const float src = source_index(scale, o, align_corners, true);
      const int64_t i0 = std::min(static_cast<int64_t>(std::floor(src)), in - 1);
      const float l = std::clamp(src - static_cast<float>(i0), 0.f, 1.f);
      const float w[4] = {cubic_outer(l + 1.f, A), cubic_inner(l, A), cubic_inner(1.f - l, A),
                          cubic_outer(2.f - l, A)};
      for (int k = 0; k < 4; ++k) set(o, k, std::clamp<int64_t>(i0 - 1 + k, 0, in - 1), w[k]);
    }
  }
  return t;
}

template <typename T>
__global__ void interpolate_kernel(T* __restrict__ y, const T* __restrict__ x, int64_t planes,
                                   int64_t H, int64_t W, int64_t oh, int64_t ow,
                                   const int32_t* __restrict__ yi, const float* __restrict__ yw,
                                   int ny, const int32_t* __restrict__ xi,
                                   const float* __restrict__ xw, int nx) {
  IPA_GRID_STRIDE(idx, planes * oh * ow) {
    const int64_t p = idx / (oh * ow), oy = (idx / ow) % oh, ox = idx % ow;
    const T* plane = x + p * H * W;
    float acc = 0.f;
    for (int a = 0; a < ny; ++a) {
      const T* row = plane + static_cast<int64_t>(yi[oy * 4 + a]) * W;
      float r = 0.f;
      for (int b = 0; b < nx; ++b) r += xw[ox * 4 + b] * to_f32(row[xi[ox * 4 + b]]);
      acc += yw[oy * 4 + a] * r;
    }
    y[idx] = from_f32<T>(acc);
  }
}

template <typename T>
__global__ void pad_kernel(T* __restrict__ y, const T* __restrict__ x, int64_t planes, int64_t H,
                           int64_t W, int64_t oh, int64_t ow, int top, int left) {
  IPA_GRID_STRIDE(idx, planes * oh * ow) {
    const int64_t p = idx / (oh * ow), oy = (idx / ow) % oh - top, ox = idx % ow - left;
    y[idx] = (oy >= 0 && oy < H && ox >= 0 && ox < W) ? x[(p * H + oy) * W + ox] : from_f32<T>(0.f);
  }
}

}  // namespace

Tensor interpolate(const Tensor& x_in, int64_t out_h, int64_t out_w, Interp mode,
                   bool align_corners) {
  const char* op = "interpolate";
  Tensor x = device_input(x_in, op, "x");
  check_rank(x, 4, op, "x [N, C, H, W]");
  const int64_t H = x.size(2), W = x.size(3);
  if (out_h < 1 || out_w < 1 || H < 1 || W < 1) {
    fail(op,
         "input and output sizes must be positive, output " + std::to_string(out_h) + "x" +
             std::to_string(out_w),
         x);
  }
  const Taps ty = make_taps(H, out_h, mode, align_corners);
  const Taps tx = make_taps(W, out_w, mode, align_corners);
  auto upload_i32 = [&](const std::vector<int32_t>& v) {
    Tensor h = Tensor::empty({static_cast<int64_t>(v.size())}, DType::I32);
    std::copy(v.begin(), v.end(), h.data<int32_t>());
    return h.to(x.device());
  };
  auto upload_f32 = [&](const std::vector<float>& v) {
    return Tensor::from_vector({static_cast<int64_t>(v.size())}, v).to(x.device());
  };
  const Tensor yi = upload_i32(ty.idx), yw = upload_f32(ty.w);
  const Tensor xi = upload_i32(tx.idx), xw = upload_f32(tx.w);
  const int64_t planes = x.size(0) * x.size(1);
  Tensor y = Tensor::empty_on(x.device(), {x.size(0), x.size(1), out_h, out_w}, x.dtype());
  if (planes == 0) return y;
  Context& c = context_of(x);
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    interpolate_kernel<T><<<grid_for(planes * out_h * out_w), kThreads, 0, c.stream>>>(
        static_cast<T*>(y.device_data_mutable()), static_cast<const T*>(x.device_data()), planes, H,
        W, out_h, out_w, static_cast<const int32_t*>(yi.device_data()),
        static_cast<const float*>(yw.device_data()), ty.n,
        static_cast<const int32_t*>(xi.device_data()), static_cast<const float*>(xw.device_data()),
        tx.n);
  });
  check_launch(op, "interpolate_kernel");
  return y;
}

Tensor pad2d(const Tensor& x_in, int top, int bottom, int left, int right) {
  const char* op = "pad2d";
  Tensor x = device_input(x_in, op, "x");
  check_rank(x, 4, op, "x [N, C, H, W]");
  const int64_t H = x.size(2), W = x.size(3), oh = H + top + bottom, ow = W + left + right;
  Tensor y = Tensor::empty_on(x.device(), {x.size(0), x.size(1), oh, ow}, x.dtype());
  const int64_t planes = x.size(0) * x.size(1);
  if (planes * oh * ow == 0) return y;
  Context& c = context_of(x);
  dispatch_float(x.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    pad_kernel<T><<<grid_for(planes * oh * ow), kThreads, 0, c.stream>>>(
        static_cast<T*>(y.device_data_mutable()), static_cast<const T*>(x.device_data()), planes, H,
        W, oh, ow, top, left);
  });
  check_launch(op, "pad_kernel");
  return y;
}

}  // namespace ipa::ops::cuda
