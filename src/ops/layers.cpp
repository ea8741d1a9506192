#include "ops/layers.h"

namespace ipa::ops {

Tensor Linear::operator()(const Tensor& x, Activation act) const { return linear(x, weight, bias, act); }
Tensor Conv2d::operator()(const Tensor& x) const { return conv2d(x, weight, bias, params); }

}  // namespace ipa::ops
