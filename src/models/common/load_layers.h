// Building ops layers from a weight scope with shape checks (errors name file, key, shapes).
#pragma once
#include <string>
#include <vector>

#include "ops/layers.h"
#include "weights/weight_store.h"

namespace ipa {

// The layer dtype (WeightStore::set_layer_dtype) of a compute precision.
DType layer_dtype(Precision precision);

// Linear and conv weights are converted once at load to the store's layer_dtype() (F32 or
// BF16, which is then their compute precision); biases and norms stay F32.

// `<name>.weight` [out, in] and, when `bias`, `<name>.bias` [out].
ops::Linear load_linear(const WeightScope& ws, const std::string& name, int64_t in, int64_t out,
                        bool bias = true);
// Linear layers over the same input fused into one whose output is theirs concatenated (q, k
// and v into one projection): each `<name>.weight` [out, in] and `<name>.bias` [out].
ops::Linear load_fused_linear(const WeightScope& ws, const std::vector<std::string>& names,
                              int64_t in, int64_t out);
// `<name>.weight` [out, in/groups, k, k], `<name>.bias` [out] when `bias`.
ops::Conv2d load_conv2d(const WeightScope& ws, const std::string& name, int64_t in, int64_t out,
                        int kernel, const ops::Conv2dParams& params, bool bias = true);
ops::GroupNorm load_group_norm(const WeightScope& ws, const std::string& name, int64_t channels,
                               int groups, float eps);
ops::LayerNorm load_layer_norm(const WeightScope& ws, const std::string& name, int64_t dim,
                               float eps);

}  // namespace ipa
