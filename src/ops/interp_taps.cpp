#include "ops/interp_taps.h"

#include <algorithm>
#include <cmath>

namespace ipa::ops {

namespace {

// PyTorch's area_pixel_compute_scale (float).
float pixel_scale(int64_t in, int64_t out, bool align_corners) {
  if (align_corners) {
    return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.f;
  }
  return static_cast<float>(in) / static_cast<float>(out);
}

// PyTorch's area_pixel_compute_source_index.
float source_index(float scale, int64_t dst, bool align_corners, bool cubic) {
  if (align_corners) return scale * static_cast<float>(dst);
  const float src = scale * (static_cast<float>(dst) + 0.5f) - 0.5f;
  return (!cubic && src < 0.f) ? 0.f : src;
}

float cubic_inner(float x, float a) {
  return ((a + 2.f) * x - (a + 3.f)) * x * x + 1.f;
}
float cubic_outer(float x, float a) {
  return ((a * x - 5.f * a) * x + 8.f * a) * x - 4.f * a;
}

}  // namespace

InterpTaps interp_taps(int64_t in, int64_t out, Interp mode, bool align_corners) {
  InterpTaps t;
  t.idx.assign(static_cast<size_t>(out) * 4, 0);
  t.w.assign(static_cast<size_t>(out) * 4, 0.f);
  auto set = [&](int64_t o, int k, int64_t i, float w) {
    t.idx[o * 4 + k] = i;
    t.w[o * 4 + k] = w;
  };
  if (mode == Interp::Nearest) {
    t.n = 1;
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    for (int64_t o = 0; o < out; ++o) {
      int64_t s;
      if (out == in)
        s = o;
      else if (out == 2 * in)
        s = o >> 1;
      else
        s = std::min(static_cast<int64_t>(std::floor(static_cast<float>(o) * scale)), in - 1);
      set(o, 0, s, 1.f);
    }
  } else if (mode == Interp::Bilinear) {
    t.n = 2;
    const float scale = pixel_scale(in, out, align_corners);
    for (int64_t o = 0; o < out; ++o) {
      const float src = source_index(scale, o, align_corners, false);
      const int64_t i0 = std::min(static_cast<int64_t>(src), in - 1);
      const int64_t i1 = i0 < in - 1 ? i0 + 1 : i0;
      const float l1 = std::clamp(src - static_cast<float>(i0), 0.f, 1.f);
      set(o, 0, i0, 1.f - l1);
      set(o, 1, i1, l1);
    }
  } else {
    t.n = 4;
    const float scale = pixel_scale(in, out, align_corners);
    const float A = -0.75f;
    for (int64_t o = 0; o < out; ++o) {
      const float src = source_index(scale, o, align_corners, true);
      const int64_t i0 = std::min(static_cast<int64_t>(std::floor(src)), in - 1);
      const float l = std::clamp(src - static_cast<float>(i0), 0.f, 1.f);
      const float w[4] = {cubic_outer(l + 1.f, A), cubic_inner(l, A), cubic_inner(1.f - l, A),
                          cubic_outer(2.f - l, A)};
      for (int k = 0; k < 4; ++k) set(o, k, std::clamp<int64_t>(i0 - 1 + k, 0, in - 1), w[k]);
    }
  }
  return t;
}

}  // namespace ipa::ops
