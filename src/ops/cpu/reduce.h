// Accurate float reductions that GCC still vectorises: 8 float lanes over short blocks (no
// reassociation needed, so no -ffast-math), block sums accumulated in double. Safe against
// large means and long rows.
#pragma once
#include <cstdint>

namespace ipa::ops::cpu {

constexpr int64_t kReduceBlock = 512;

// Σ f(x[i]) for i < n.
template <typename F>
inline double block_sum(const float* x, int64_t n, F f) {
  double total = 0;
  for (int64_t b = 0; b < n; b += kReduceBlock) {
    const int64_t e = b + kReduceBlock < n ? b + kReduceBlock : n;
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = b;
    for (; i + 8 <= e; i += 8) {
      for (int j = 0; j < 8; ++j) lane[j] += f(x[i + j]);
    }
    float tail = 0;
    for (; i < e; ++i) tail += f(x[i]);
    double s = tail;
    for (int j = 0; j < 8; ++j) s += lane[j];
    total += s;
  }
  return total;
}

inline double sum(const float* x, int64_t n) {
  return block_sum(x, n, [](float v) { return v; });
}

// Σ (x - mean)², the second pass of a two-pass variance.
inline double sum_sq_dev(const float* x, int64_t n, float mean) {
  return block_sum(x, n, [mean](float v) {
    const float d = v - mean;
    return d * d;
  });
}

}  // namespace ipa::ops::cpu
