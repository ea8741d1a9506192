// A oneDNN convolution planned for one input shape: the primitive, the layouts it chose, and
// (for ops::Conv2d) the weights reordered once into that layout.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include "ops/ops.h"

namespace ipa::ops::cpu {

struct ConvPlan {
  dnnl::convolution_forward prim;
  dnnl::memory::desc src_md, wei_md, dst_md;  // the primitive's layouts
  dnnl::memory::desc user_src_md, user_wei_md, user_dst_md, bias_md;
  Shape out_shape;
};

// Validates the arguments (ipa::Error with shapes) and returns the output shape.
Shape conv2d_out_shape(const Tensor& x, const Shape& w_shape, const Tensor& b,
                       const Conv2dParams& p);
// The same checks on an input shape alone (for planning ahead of a call).
Shape conv2d_out_shape(const Shape& x_shape, const Shape& w_shape, const Tensor& b,
                       const Conv2dParams& p);
// F32 at the interface either way; a BF16 plan's primitive reads bf16 src and weights
// (the src reorder converts) and accumulates and writes F32.
ConvPlan make_conv_plan(const Shape& x_shape, const Shape& w_shape, bool has_bias,
                        const Conv2dParams& p, Precision precision);
// w (F32, or BF16 as loaded for bf16 precision) in the user's OIHW layout → memory in
// plan.wei_md (no copy when they agree; then it points into w, which must outlive the result).
dnnl::memory pack_conv_weights(const ConvPlan& plan, const Tensor& w);
// Weights already in some oneDNN layout → plan.wei_md (returns `from` when they agree).
dnnl::memory repack_conv_weights(const ConvPlan& plan, const dnnl::memory& from);
// x contiguous NCHW, or channels-last (ops.h), which the result then is too.
Tensor run_conv_plan(const ConvPlan& plan, const Tensor& x, const dnnl::memory& weights,
                     const Tensor& b);

}  // namespace ipa::ops::cpu
