// Tiled VAE passes with the semantics of diffusers 0.30.3 AutoencoderKL.tiled_decode /
// tiled_encode: cut the input into overlapping square tiles, run each tile on its own, blend
// every tile's first rows/columns linearly into its upper and left neighbours' last ones,
// keep the top-left `out_keep` × `out_keep` of each tile and stitch.
//
// diffusers blends in place, in raster order, so a tile's upper neighbour has already been
// blended with *its* left neighbour when it is blended into the tile below. run_tiled()
// reproduces that order exactly while holding only two rows of tiles, not all of them.
#pragma once
#include <functional>

#include "tensor/tensor.h"

namespace ipa::vae {

// How a tiled pass cuts its input and stitches its outputs (diffusers' names in brackets).
struct TileGrid {
  int64_t in_tile = 0;    // input tile side
  int64_t in_stride = 0;  // distance between tile starts [overlap_size]
  int64_t out_blend = 0;  // output rows/columns blended with the previous tile [blend_extent]
  int64_t out_keep = 0;   // output rows/columns kept from each tile [row_limit]
};

// diffusers' decode numbers: tiles of `tile_latent` latents that decode to `tile_sample` pixels.
//   in_stride = int(tile_latent · (1 − overlap)), out_blend = int(tile_sample · overlap),
//   out_keep = tile_sample − out_blend.
TileGrid decode_grid(int64_t tile_latent, int64_t tile_sample, double overlap);
// diffusers' encode numbers: tiles of `tile_sample` pixels that encode to `tile_latent` latents.
//   in_stride = int(tile_sample · (1 − overlap)), out_blend = int(tile_latent · overlap),
//   out_keep = tile_latent − out_blend.
TileGrid encode_grid(int64_t tile_latent, int64_t tile_sample, double overlap);
// True when the kept parts of the tiles add up to exactly `scale` × the input size, i.e.
// in_stride · scale == out_keep (scale = output pixels per input pixel, e.g. 8 or 1/8 as
// num/den). Otherwise diffusers' stitching would return an image of the wrong size.
bool grid_is_consistent(const TileGrid& g, int64_t scale_num, int64_t scale_den);

// diffusers' blend_v, in place on `b`: with e = min(a.h, b.h, extent), for y < e
//   b[:, :, y, :] = a[:, :, a.h − e + y, :] · (1 − y/e) + b[:, :, y, :] · (y/e)
// with torch's float rounding (weights computed in double, rounded to float; no FMA).
// a and b: F32 [B, C, *, W], same B, C, W; b contiguous and writable.
void blend_v(const Tensor& a, Tensor& b, int64_t extent);
// blend_h: the same along the width (a and b share B, C, H).
void blend_h(const Tensor& a, Tensor& b, int64_t extent);

// Runs `tile_fn` on every tile of x ([B, C, H, W]; tiles start every in_stride along each side,
// up to in_tile wide, smaller at the far edges) in raster order, blends and stitches as
// diffusers does. `tile_fn` must return a new tensor [B, C', h', w'] (it is blended in place).
using TileFn = std::function<Tensor(const Tensor&)>;
Tensor run_tiled(const Tensor& x, const TileGrid& grid, const TileFn& tile_fn);

}  // namespace ipa::vae
