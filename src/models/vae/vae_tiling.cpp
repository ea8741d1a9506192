// Built with -ffp-contract=off (CMakeLists.txt): the blends must round like torch's separate
// multiply and add, not as fused multiply-adds.
#include "models/vae/vae_tiling.h"

#include <algorithm>

#include "ops/ops.h"

namespace ipa::vae {

namespace {

void check_pair(const Tensor& a, const Tensor& b, int64_t same_dim, const char* op) {
  const bool ok = a.dim() == 4 && b.dim() == 4 && a.dtype() == DType::F32 &&
                  b.dtype() == DType::F32 && b.is_contiguous() && a.size(0) == b.size(0) &&
                  a.size(1) == b.size(1) && a.size(same_dim) == b.size(same_dim);
  if (!ok) {
    throw Error(std::string("VAE tiling ") + op + ": tiles do not line up: " + a.describe() +
                " and " + b.describe());
  }
}

// Blend weights as torch computes `x * (1 - y / e)` with Python floats: in double, then
// rounded to the tensor's float.
float weight_prev(int64_t y, int64_t e) {
  return static_cast<float>(1.0 - static_cast<double>(y) / static_cast<double>(e));
}
float weight_next(int64_t y, int64_t e) {
  return static_cast<float>(static_cast<double>(y) / static_cast<double>(e));
}

std::vector<int64_t> tile_starts(int64_t size, int64_t stride) {
  std::vector<int64_t> starts;
  for (int64_t s = 0; s < size; s += stride) starts.push_back(s);
  return starts;
}

}  // namespace

TileGrid decode_grid(int64_t tile_latent, int64_t tile_sample, double overlap) {
  TileGrid g;
  g.in_tile = tile_latent;
  g.in_stride = static_cast<int64_t>(static_cast<double>(tile_latent) * (1.0 - overlap));
  g.out_blend = static_cast<int64_t>(static_cast<double>(tile_sample) * overlap);
  g.out_keep = tile_sample - g.out_blend;
  return g;
}

TileGrid encode_grid(int64_t tile_latent, int64_t tile_sample, double overlap) {
  TileGrid g;
  g.in_tile = tile_sample;
  g.in_stride = static_cast<int64_t>(static_cast<double>(tile_sample) * (1.0 - overlap));
  g.out_blend = static_cast<int64_t>(static_cast<double>(tile_latent) * overlap);
  g.out_keep = tile_latent - g.out_blend;
  return g;
}

bool grid_is_consistent(const TileGrid& g, int64_t scale_num, int64_t scale_den) {
  return g.in_tile > 0 && g.in_stride > 0 && g.out_blend >= 0 && g.out_keep > 0 &&
         g.in_stride * scale_num == g.out_keep * scale_den;
}

void blend_v(const Tensor& a, Tensor& b, int64_t extent) {
  check_pair(a, b, 3, "blend_v");
  const int64_t ha = a.size(2), hb = b.size(2), w = b.size(3);
  const int64_t e = std::min({ha, hb, extent});
  if (e <= 0) return;
  const Tensor ac = a.contiguous();
  const float* pa = ac.data<float>();
  float* pb = b.data<float>();
  const int64_t planes = b.size(0) * b.size(1);
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t y = 0; y < e; ++y) {
      const float wa = weight_prev(y, e), wb = weight_next(y, e);
      const float* ra = pa + (p * ha + ha - e + y) * w;
      float* rb = pb + (p * hb + y) * w;
      for (int64_t x = 0; x < w; ++x) rb[x] = ra[x] * wa + rb[x] * wb;
    }
  }
}

void blend_h(const Tensor& a, Tensor& b, int64_t extent) {
  check_pair(a, b, 2, "blend_h");
  const int64_t wa_ = a.size(3), wb_ = b.size(3), h = b.size(2);
  const int64_t e = std::min({wa_, wb_, extent});
  if (e <= 0) return;
  const Tensor ac = a.contiguous();
  const float* pa = ac.data<float>();
  float* pb = b.data<float>();
  const int64_t rows = b.size(0) * b.size(1) * h;
  for (int64_t r = 0; r < rows; ++r) {
    const float* ra = pa + r * wa_ + wa_ - e;
    float* rb = pb + r * wb_;
    for (int64_t x = 0; x < e; ++x) rb[x] = ra[x] * weight_prev(x, e) + rb[x] * weight_next(x, e);
  }
}

Tensor run_tiled(const Tensor& x, const TileGrid& grid, const TileFn& tile_fn) {
  if (x.dim() != 4) throw Error("VAE tiling: expected a 4-D input, got " + x.describe());
  if (grid.in_tile <= 0 || grid.in_stride <= 0 || grid.out_keep <= 0 || grid.out_blend < 0) {
    throw Error("VAE tiling: invalid tile grid (tile " + std::to_string(grid.in_tile) +
                ", stride " + std::to_string(grid.in_stride) + ", keep " +
                std::to_string(grid.out_keep) + ", blend " + std::to_string(grid.out_blend) + ")");
  }
  const int64_t H = x.size(2), W = x.size(3);
  const std::vector<int64_t> ys = tile_starts(H, grid.in_stride),
                             xs = tile_starts(W, grid.in_stride);
  std::vector<Tensor> above, current, rows;
  for (size_t i = 0; i < ys.size(); ++i) {
    current.clear();
    std::vector<Tensor> kept;
    for (size_t j = 0; j < xs.size(); ++j) {
      const Tensor in = x.narrow(2, ys[i], std::min(grid.in_tile, H - ys[i]))
                            .narrow(3, xs[j], std::min(grid.in_tile, W - xs[j]))
                            .contiguous();
      // Tiles are blended on the host: a device's tiles come over once each (an explicit copy
      // of the output, which a decode brings to the host anyway) and the whole goes back.
      Tensor tile = tile_fn(in).to(Device{});
      if (!tile.is_contiguous() || tile.read_only()) tile = tile.clone();
      if (i > 0) blend_v(above[j], tile, grid.out_blend);
      if (j > 0) blend_h(current[j - 1], tile, grid.out_blend);
      kept.push_back(tile.narrow(2, 0, std::min(grid.out_keep, tile.size(2)))
                         .narrow(3, 0, std::min(grid.out_keep, tile.size(3))));
      current.push_back(std::move(tile));
    }
    rows.push_back(ops::concat(kept, 3));
    above.swap(current);
  }
  return ops::concat(rows, 2).to(x.device());
}

}  // namespace ipa::vae
