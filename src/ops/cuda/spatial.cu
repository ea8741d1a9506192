// interpolate (nearest / bilinear / bicubic, align_corners) and zero padding of [N, C, H, W].
// The source taps and weights of each output row and column are computed on the host by the
// CPU op's code (src/ops/interp_taps.cpp, after PyTorch's CPU kernels), so both pick the same
// source pixels; the kernel combines them in the CPU op's order (along x, then rows).
#include <string>
#include <vector>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/cuda_util.h"
#include "ops/cuda/kernel_util.cuh"
#include "ops/interp_taps.h"

namespace ipa::ops::cuda {

namespace {

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
  check_interpolate(x, out_h, out_w);
  const int64_t H = x.size(2), W = x.size(3);
  const InterpTaps ty = interp_taps(H, out_h, mode, align_corners);
  const InterpTaps tx = interp_taps(W, out_w, mode, align_corners);
  auto upload_i32 = [&](const std::vector<int64_t>& v) {  // indices < H, W: int32 is enough
    Tensor h = Tensor::empty({static_cast<int64_t>(v.size())}, DType::I32);
    int32_t* d = h.data<int32_t>();
    for (size_t i = 0; i < v.size(); ++i) d[i] = static_cast<int32_t>(v[i]);
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
