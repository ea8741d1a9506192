// Shared by the fuzz targets: read every value a parsed file exposes, so a view that reaches
// outside its buffer is caught by AddressSanitizer.
#pragma once
#include <cstdint>
#include <vector>

#include "formats/tensor_file.h"

namespace ipa::fuzz {

inline void touch_tensors(const TensorFile& file) {
  // Reading everything of a tensor costs its element count, which a legitimate view may make
  // much larger than the input (a repeated storage element); past a budget only the two
  // extreme elements are read — with non-negative strides they bound every address.
  int64_t budget = 1 << 22;
  volatile float sink = 0.f;
  for (const auto& nt : file.tensors) {
    const Tensor& t = nt.tensor;
    const int64_t n = t.numel();
    if (n == 0) continue;
    if (n <= budget) {
      budget -= n;
      for (float v : t.to_floats()) sink = sink + v;
    } else {
      std::vector<int64_t> first(t.shape().size(), 0), last;
      for (int64_t s : t.shape()) last.push_back(s - 1);
      sink = sink + t.item_f32(first) + t.item_f32(last);
    }
  }
  (void)sink;
}

}  // namespace ipa::fuzz
