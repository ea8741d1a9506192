// Channels-last [N, C, H, W] views over [N, H, W, C] storage (ops.h explains why).
#include "ops/cpu/cpu_util.h"

namespace ipa::ops {

bool is_channels_last(const Tensor& x) {
  if (!x.defined() || x.dim() != 4 || x.is_contiguous()) return false;
  const int64_t C = x.size(1), H = x.size(2), W = x.size(3);
  const Shape& s = x.strides();
  return s[0] == H * W * C && s[1] == 1 && s[2] == W * C && s[3] == C;
}

Tensor empty_channels_last(const Shape& nchw) {
  if (nchw.size() != 4)
    throw Error("empty_channels_last: needs [N, C, H, W], got " + shape_str(nchw));
  return Tensor::empty({nchw[0], nchw[2], nchw[3], nchw[1]}).permute({0, 3, 1, 2});
}

Tensor to_channels_last(const Tensor& x) {
  // A layout for oneDNN's NHWC convolutions: the CUDA backend runs cuDNN in NCHW and would only
  // copy it back. (The emulated test device runs the host's ops, so it keeps the host's layout.)
  if (is_channels_last(x) || (x.defined() && x.device().type == DeviceType::CUDA)) return x;
  check_rank(x, 4, "to_channels_last", "x [N, C, H, W]");
  // The NHWC copy, viewed back as [N, C, H, W].
  return x.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});
}

}  // namespace ipa::ops
