// conv2d on cuDNN 9's convolution API (cudnnConvolutionForward), NCHW at the interface and in
// the call; the algorithm is cuDNN's heuristic choice (cudnnGetConvolutionForwardAlgorithm_v7,
// no benchmarking) cached per shape, its workspace from the caching allocator; the bias is a
// separate pass (bias_activation). F32 runs with CUDNN_FMA_MATH (no TF32), F16/BF16 on tensor
// cores with F32 accumulation. Asymmetric paddings (cuDNN takes one per axis) pad the input
// first.
//
// Later: NHWC activations (tensor cores prefer them; cuDNN transposes NCHW internally) and bias
// and residual fused through cuDNN's graph API.
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/cuda_util.h"

namespace ipa::ops::cuda {

namespace {

constexpr size_t kMaxWorkspace = size_t{1} << 30;

cudnnDataType_t dnn_type(DType t) {
  switch (t) {
    case DType::F16:
      return CUDNN_DATA_HALF;
    case DType::BF16:
      return CUDNN_DATA_BFLOAT16;
    default:
      return CUDNN_DATA_FLOAT;
  }
}

// Descriptors and the chosen algorithm for one convolution shape.
struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspace = 0;
};

struct PlanCache {
  std::mutex mu;
  std::map<std::vector<int64_t>, ConvPlan> plans;
};

PlanCache& plan_cache() {
  static PlanCache* cache = new PlanCache();  // kept for the process
  return *cache;
}

ConvPlan make_plan(Context& ctx, const Shape& xs, const Shape& ws, const Shape& ys,
                   const Conv2dParams& p, DType dt, const std::string& detail_text) {
  const char* op = "conv2d";
  auto detail = [&] { return detail_text; };
  ConvPlan plan;
  const cudnnDataType_t t = dnn_type(dt);
  check(cudnnCreateTensorDescriptor(&plan.x), op, "cudnnCreateTensorDescriptor", detail);
  check(cudnnCreateTensorDescriptor(&plan.y), op, "cudnnCreateTensorDescriptor", detail);
  check(cudnnCreateFilterDescriptor(&plan.w), op, "cudnnCreateFilterDescriptor", detail);
  check(cudnnCreateConvolutionDescriptor(&plan.conv), op, "cudnnCreateConvolutionDescriptor",
        detail);
  auto i32 = [](int64_t v) { return int_arg(v, "conv2d"); };
  check(cudnnSetTensor4dDescriptor(plan.x, CUDNN_TENSOR_NCHW, t, i32(xs[0]), i32(xs[1]), i32(xs[2]),
                                   i32(xs[3])),
        op, "cudnnSetTensor4dDescriptor(x)", detail);
  check(cudnnSetFilter4dDescriptor(plan.w, t, CUDNN_TENSOR_NCHW, i32(ws[0]), i32(ws[1]), i32(ws[2]),
                                   i32(ws[3])),
        op, "cudnnSetFilter4dDescriptor", detail);
  check(cudnnSetConvolution2dDescriptor(plan.conv, p.pad_top, p.pad_left, p.stride_h, p.stride_w,
                                        p.dilation_h, p.dilation_w, CUDNN_CROSS_CORRELATION,
                                        CUDNN_DATA_FLOAT),
        op, "cudnnSetConvolution2dDescriptor", detail);
  check(cudnnSetConvolutionGroupCount(plan.conv, p.groups), op, "cudnnSetConvolutionGroupCount",
        detail);
  check(cudnnSetConvolutionMathType(plan.conv,
                                    dt == DType::F32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH),
        op, "cudnnSetConvolutionMathType", detail);
  int n = 0, c = 0, h = 0, w = 0;
  check(cudnnGetConvolution2dForwardOutputDim(plan.conv, plan.x, plan.w, &n, &c, &h, &w), op,
        "cudnnGetConvolution2dForwardOutputDim", detail);
  if (Shape{n, c, h, w} != ys) {
    fail(op, "cuDNN computes output " + shape_str({n, c, h, w}) + ", expected " + shape_str(ys) +
                 " (" + detail_text + ")");
  }
  check(cudnnSetTensor4dDescriptor(plan.y, CUDNN_TENSOR_NCHW, t, n, c, h, w), op,
        "cudnnSetTensor4dDescriptor(y)", detail);
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
  int returned = 0;
  check(
      cudnnGetConvolutionForwardAlgorithm_v7(ctx.dnn, plan.x, plan.w, plan.conv, plan.y,
                                             static_cast<int>(perf.size()), &returned, perf.data()),
      op, "cudnnGetConvolutionForwardAlgorithm_v7", detail);
  // In F32 the result must match the CPU to ~1e-5: FFT and Winograd transforms (which the
  // heuristic often ranks first for wide 3x3 convolutions) round far more than direct or
  // implicit-GEMM summation, so F32 takes the best of the others.
  const auto accurate_enough = [&](cudnnConvolutionFwdAlgo_t a) {
    return t != CUDNN_DATA_FLOAT ||
           (a != CUDNN_CONVOLUTION_FWD_ALGO_FFT && a != CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING &&
            a != CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD &&
            a != CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED);
  };
  bool found = false;
  for (int i = 0; i < returned && !found; ++i) {  // best first
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kMaxWorkspace &&
        accurate_enough(perf[i].algo)) {
      plan.algo = perf[i].algo;
      found = true;
    }
  }
  if (!found) fail(op, "cuDNN offers no algorithm for " + detail_text);
  check(cudnnGetConvolutionForwardWorkspaceSize(ctx.dnn, plan.x, plan.w, plan.conv, plan.y,
                                                plan.algo, &plan.workspace),
        op, "cudnnGetConvolutionForwardWorkspaceSize", detail);
  return plan;
}

}  // namespace

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in,
              const Conv2dParams& p_in) {
  const char* op = "conv2d";
  // F32 activations with F16/BF16 weights compute in the weights' dtype (see linear, gemm.cpp).
  if (x_in.dtype() == DType::F32 && w_in.defined() && w_in.dtype() != DType::F32) {
    return cuda::conv2d(x_in.to(w_in.dtype()), w_in, b_in, p_in).to(DType::F32);
  }
  Tensor x = device_input(x_in, op, "x");
  check_rank(x, 4, op, "x [N, C, H, W]");
  const DType dt = x.dtype();
  if (!w_in.defined()) fail(op, "weight must be defined");
  const Shape& ws = w_in.shape();
  if (ws.size() != 4) fail(op, "weight must be [O, C/groups, kh, kw]", w_in);
  Conv2dParams p = p_in;
  if (p.groups < 1 || p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 || p.dilation_w < 1 ||
      p.pad_top < 0 || p.pad_bottom < 0 || p.pad_left < 0 || p.pad_right < 0) {
    fail(op, "groups, strides and dilations must be >= 1 and paddings >= 0");
  }
  const int64_t C = x.size(1), O = ws[0];
  if (C != ws[1] * p.groups || O % p.groups != 0) {
    fail(op, "weight " + shape_str(ws) + " does not fit x " + x.describe() + " with " +
                 std::to_string(p.groups) + " groups");
  }
  Tensor w = operand_as(w_in, dt, x.device(), op, "weight");
  Tensor b;
  if (b_in.defined()) {
    b = operand_as(b_in, dt, x.device(), op, "bias");
    if (b.dim() != 1 || b.size(0) != O) fail(op, "bias must be [" + std::to_string(O) + "]", b);
  }
  const int64_t kh_eff = (ws[2] - 1) * p.dilation_h + 1, kw_eff = (ws[3] - 1) * p.dilation_w + 1;
  const int64_t hp = x.size(2) + p.pad_top + p.pad_bottom,
                wp = x.size(3) + p.pad_left + p.pad_right;
  if (hp < kh_eff || wp < kw_eff || ws[2] < 1 || ws[3] < 1) {
    fail(op, "kernel " + shape_str(ws) + " is larger than the padded input " + x.describe());
  }
  const Shape ys = {x.size(0), O, (hp - kh_eff) / p.stride_h + 1, (wp - kw_eff) / p.stride_w + 1};
  Tensor y = Tensor::empty_on(x.device(), ys, dt);
  if (y.numel() == 0) return y;
  if (p.pad_top != p.pad_bottom || p.pad_left != p.pad_right) {
    x = pad2d(x, p.pad_top, p.pad_bottom, p.pad_left, p.pad_right);
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 0;
  }
  const std::string detail_text =
      "x " + x.describe() + ", weight " + shape_str(ws) + ", stride " + std::to_string(p.stride_h) +
      "x" + std::to_string(p.stride_w) + ", pad " + std::to_string(p.pad_top) + "x" +
      std::to_string(p.pad_left) + ", groups " + std::to_string(p.groups);
  Context& ctx = context_of(x);
  const std::vector<int64_t> key = {ctx.index,    static_cast<int64_t>(dt),
                                    x.size(0),    x.size(1),
                                    x.size(2),    x.size(3),
                                    ws[0],        ws[1],
                                    ws[2],        ws[3],
                                    p.stride_h,   p.stride_w,
                                    p.pad_top,    p.pad_left,
                                    p.dilation_h, p.dilation_w,
                                    p.groups};
  PlanCache& cache = plan_cache();
  std::lock_guard<std::mutex> lock(cache.mu);
  auto it = cache.plans.find(key);
  if (it == cache.plans.end()) {
    it = cache.plans.emplace(key, make_plan(ctx, x.shape(), ws, ys, p, dt, detail_text)).first;
  }
  const ConvPlan& plan = it->second;
  // Released right after the call is queued: the allocator's next user runs after it on the
  // same stream.
  void* workspace = plan.workspace ? ctx.allocator->allocate(plan.workspace) : nullptr;
  const float alpha = 1.f, beta = 0.f;
  const cudnnStatus_t s = cudnnConvolutionForward(
      ctx.dnn, &alpha, plan.x, x.device_data(), plan.w, w.device_data(), plan.conv, plan.algo,
      workspace, plan.workspace, &beta, plan.y, y.device_data_mutable());
  if (workspace) ctx.allocator->release(workspace, plan.workspace);
  check(s, op, "cudnnConvolutionForward", [&] { return detail_text; });
  bias_activation(y, b, O, ys[2] * ys[3], Activation::None);
  return y;
}

}  // namespace ipa::ops::cuda
