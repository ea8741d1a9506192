// The source taps of interpolate along one axis: per output coordinate up to 4 source indices
// and weights, with PyTorch's CPU index formulas (float scales), so that sizes whose ratio is
// not exact pick the same source pixels. Shared by the CPU op and the CUDA kernel (plain C++).
#pragma once
#include <cstdint>
#include <vector>

#include "ops/ops.h"

namespace ipa::ops {

struct InterpTaps {
  int n = 1;                 // taps used per output: 1 nearest, 2 bilinear, 4 bicubic
  std::vector<int64_t> idx;  // [out, 4] source indices (unused taps: 0)
  std::vector<float> w;      // [out, 4] weights (unused taps: 0)
};

InterpTaps interp_taps(int64_t in, int64_t out, Interp mode, bool align_corners);

}  // namespace ipa::ops
