// conv2d on oneDNN's convolution. NCHW at the interface; the primitive picks its own
// (blocked) layouts and we reorder around it, which is much faster than direct NCHW on AVX2.
#include <cstring>

#include "ops/cpu/conv2d_plan.h"
#include "ops/cpu/cpu_util.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/profile.h"

namespace ipa::ops {

using namespace cpu;
using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace cpu {

Shape conv2d_out_shape(const Tensor& x, const Shape& ws, const Tensor& b, const Conv2dParams& p) {
  const char* op = "conv2d";
  if (!x.defined()) fail(op, "x must be defined");
  if (x.dtype() != DType::F32) fail(op, "x must be F32", x);
  check_rank(x, 4, op, "x [N, C, H, W]");
  return conv2d_out_shape(x.shape(), ws, b, p);
}

Shape conv2d_out_shape(const Shape& xs, const Shape& ws, const Tensor& b, const Conv2dParams& p) {
  const char* op = "conv2d";
  if (xs.size() != 4) fail(op, "x must be [N, C, H, W], got " + shape_str(xs));
  if (ws.size() != 4) fail(op, "weight must be [O, C/groups, kh, kw], got " + shape_str(ws));
  if (p.groups < 1 || p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 || p.dilation_w < 1 ||
      p.pad_top < 0 || p.pad_bottom < 0 || p.pad_left < 0 || p.pad_right < 0) {
    fail(op, "groups, strides and dilations must be >= 1 and paddings >= 0");
  }
  const int64_t C = xs[1], O = ws[0];
  if (C != ws[1] * p.groups || O % p.groups != 0) {
    fail(op, "weight " + shape_str(ws) + " does not fit x " + shape_str(xs) + " with " +
                 std::to_string(p.groups) + " groups");
  }
  if (b.defined()) {
    if (b.dtype() != DType::F32 || b.dim() != 1 || b.size(0) != O) {
      fail(op, "bias must be F32 [" + std::to_string(O) + "]", b);
    }
  }
  const int64_t kh_eff = (ws[2] - 1) * p.dilation_h + 1;
  const int64_t kw_eff = (ws[3] - 1) * p.dilation_w + 1;
  const int64_t hp = xs[2] + p.pad_top + p.pad_bottom;
  const int64_t wp = xs[3] + p.pad_left + p.pad_right;
  if (hp < kh_eff || wp < kw_eff || ws[2] < 1 || ws[3] < 1) {
    fail(op, "kernel " + shape_str(ws) + " is larger than the padded input " + shape_str(xs));
  }
  return {xs[0], O, (hp - kh_eff) / p.stride_h + 1, (wp - kw_eff) / p.stride_w + 1};
}

ConvPlan make_conv_plan(const Shape& xs, const Shape& ws, bool has_bias, const Conv2dParams& p,
                        Precision precision) {
  ConvPlan plan;
  const dt compute = precision == Precision::BF16 ? dt::bf16 : dt::f32;
  const int64_t O = ws[0], G = p.groups;
  const int64_t kh_eff = (ws[2] - 1) * p.dilation_h + 1, kw_eff = (ws[3] - 1) * p.dilation_w + 1;
  plan.out_shape = {xs[0], O, (xs[2] + p.pad_top + p.pad_bottom - kh_eff) / p.stride_h + 1,
                    (xs[3] + p.pad_left + p.pad_right - kw_eff) / p.stride_w + 1};
  plan.user_src_md = memory::desc(to_dims(xs), dt::f32, tag::nchw);
  plan.user_dst_md = memory::desc(to_dims(plan.out_shape), dt::f32, tag::nchw);
  memory::dims wdims = G == 1 ? to_dims(ws) : memory::dims{G, O / G, ws[1], ws[2], ws[3]};
  plan.user_wei_md = memory::desc(wdims, dt::f32, G == 1 ? tag::oihw : tag::goihw);
  plan.bias_md = memory::desc({O}, dt::f32, tag::a);
  const memory::desc src_any(to_dims(xs), compute, tag::any);
  const memory::desc dst_any(to_dims(plan.out_shape), dt::f32, tag::any);
  const memory::desc wei_any(wdims, compute, tag::any);
  const memory::dims strides = {p.stride_h, p.stride_w};
  const memory::dims dil = {p.dilation_h - 1, p.dilation_w - 1};  // oneDNN counts the gaps
  const memory::dims pad_l = {p.pad_top, p.pad_left}, pad_r = {p.pad_bottom, p.pad_right};
  try {
    auto d = has_bias ? dnnl::convolution_forward::desc(
                            dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                            src_any, wei_any, plan.bias_md, dst_any, strides, dil, pad_l, pad_r)
                      : dnnl::convolution_forward::desc(
                            dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                            src_any, wei_any, dst_any, strides, dil, pad_l, pad_r);
    dnnl::convolution_forward::primitive_desc pd(d, dnnl_attr(), dnnl_engine());
    plan.src_md = pd.src_desc();
    plan.wei_md = pd.weights_desc();
    plan.dst_md = pd.dst_desc();
    plan.prim = dnnl::convolution_forward(pd);
  } catch (const dnnl::error& e) {
    throw Error("conv2d: oneDNN cannot build a " +
                std::string(precision == Precision::BF16 ? "bf16" : "f32") + " convolution for x " +
                shape_str(xs) + ", weight " + shape_str(ws) + ": " + e.what());
  }
  return plan;
}

namespace {
// Scratch memory for a layout from the block pool (reused between calls).
memory pooled(const memory::desc& md, Tensor* keep) {
  *keep = Tensor::empty({static_cast<int64_t>(md.get_size() / sizeof(float)) + 1});
  return memory(md, dnnl_engine(), keep->raw_mutable());
}

void reorder(const memory& from, const memory& to) {
  dnnl_run("conv2d reorder", dnnl_reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
}
}  // namespace

memory pack_conv_weights(const ConvPlan& plan, const Tensor& w) {
  memory::desc user_md = plan.user_wei_md;
  if (w.dtype() == DType::BF16) {  // weights loaded in the bf16 compute format
    const memory::dims dims = user_md.dims();
    user_md = memory::desc(dims, dt::bf16, dims.size() == 4 ? tag::oihw : tag::goihw);
  }
  return repack_conv_weights(plan, memory(user_md, dnnl_engine(), const_cast<void*>(w.raw())));
}

memory repack_conv_weights(const ConvPlan& plan, const memory& from) {
  if (plan.wei_md == from.get_desc()) return from;
  memory packed(plan.wei_md, dnnl_engine());  // owned by oneDNN, lives with the plan user
  reorder(from, packed);
  return packed;
}

Tensor run_conv_plan(const ConvPlan& plan, const Tensor& x, const memory& weights,
                     const Tensor& b) {
  auto& eng = dnnl_engine();
  // A channels-last x is read as NHWC and gives a channels-last result: no transposes when the
  // primitive computes in NHWC itself (oneDNN's brgconv on AVX-512).
  const bool channels_last = is_channels_last(x);
  const memory::desc user_src_md =
      channels_last ? memory::desc(plan.user_src_md.dims(), dt::f32, tag::nhwc) : plan.user_src_md;
  const memory::desc user_dst_md =
      channels_last ? memory::desc(plan.user_dst_md.dims(), dt::f32, tag::nhwc) : plan.user_dst_md;
  Tensor y = channels_last ? empty_channels_last(plan.out_shape) : Tensor::empty(plan.out_shape);
  memory user_src(user_src_md, eng, const_cast<void*>(x.raw()));
  memory user_dst(user_dst_md, eng, y.raw_mutable());
  Tensor src_keep, dst_keep;
  memory src = user_src, dst = user_dst;
  if (plan.src_md != user_src_md) {
    src = pooled(plan.src_md, &src_keep);
    reorder(user_src, src);
  }
  if (plan.dst_md != user_dst_md) dst = pooled(plan.dst_md, &dst_keep);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
  if (b.defined()) args[DNNL_ARG_BIAS] = memory(plan.bias_md, eng, const_cast<void*>(b.raw()));
  dnnl_run("conv2d", plan.prim, args);
  if (plan.dst_md != user_dst_md) reorder(dst, user_dst);
  return y;
}

}  // namespace cpu

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, const Conv2dParams& p) {
  if (Backend* be = backend_for("conv2d", {&x_in, &w_in, &b_in}))
    return be->conv2d(x_in, w_in, b_in, p);
  profile::OpScope prof("conv2d");
  if (!w_in.defined()) fail("conv2d", "weight must be defined");
  if (w_in.dtype() != DType::F32 && w_in.dtype() != DType::BF16) {
    fail("conv2d", "weight must be F32 or BF16", w_in);
  }
  const Shape out = conv2d_out_shape(x_in, w_in.shape(), b_in, p);
  // Both layouts run as they are (a channels-last x gives a channels-last result), as in the
  // Conv2d layer: the same primitive and layouts, so the same bits.
  Tensor x = is_channels_last(x_in) ? x_in : x_in.contiguous();
  Tensor w = w_in.contiguous();
  Tensor b = b_in.defined() ? b_in.contiguous() : Tensor();
  if (numel_of(out) == 0) return Tensor::empty(out);
  prof.set_flops(2.0 * static_cast<double>(numel_of(out)) *
                 static_cast<double>(w.numel() / w.size(0)));
  const Precision precision = w.dtype() == DType::BF16 ? Precision::BF16 : Precision::F32;
  const ConvPlan plan = make_conv_plan(x.shape(), w.shape(), b.defined(), p, precision);
  return run_conv_plan(plan, x, pack_conv_weights(plan, w), b);
}

}  // namespace ipa::ops
