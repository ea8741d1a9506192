// Tiled VAE stitching (models/vae/vae_tiling.h) against plain reference loops and against
// diffusers' tiled_decode worked by hand on constant tiles.
#include <gtest/gtest.h>

#include <cmath>

#include <fstream>

#include "bench/random_weights.h"
#include "models/vae/autoencoder_kl.h"
#include "models/vae/vae_config.h"
#include "models/vae/vae_tiling.h"
#include "test_support.h"

namespace ipa::vae {
namespace {

// diffusers' blend_v as a plain loop over every element, weights in double.
Tensor reference_blend_v(const Tensor& a, const Tensor& b, int64_t extent) {
  Tensor out = b.clone();
  const int64_t e = std::min({a.size(2), b.size(2), extent});
  for (int64_t n = 0; n < b.size(0); ++n)
    for (int64_t c = 0; c < b.size(1); ++c)
      for (int64_t y = 0; y < e; ++y)
        for (int64_t x = 0; x < b.size(3); ++x) {
          const double t = static_cast<double>(y) / e;
          const double v =
              a.item_f32({n, c, a.size(2) - e + y, x}) * (1 - t) + b.item_f32({n, c, y, x}) * t;
          out.data<float>()[((n * b.size(1) + c) * b.size(2) + y) * b.size(3) + x] =
              static_cast<float>(v);
        }
  return out;
}

Tensor reference_blend_h(const Tensor& a, const Tensor& b, int64_t extent) {
  // Transposing H and W turns blend_h into blend_v.
  const Tensor at = a.transpose(2, 3).contiguous(), bt = b.transpose(2, 3).contiguous();
  return reference_blend_v(at, bt, extent).transpose(2, 3).contiguous();
}

// Float rounding only: the reference blends in double.
constexpr double kBlendTol = 3e-7;

TEST(VaeTilingBlend, VerticalMatchesReferenceLoop) {
  for (const int64_t extent : {0, 1, 3, 5, 7, 20}) {
    SCOPED_TRACE("extent " + std::to_string(extent));
    const Tensor a = test::random_tensor({2, 3, 7, 5}, 1),
                 b0 = test::random_tensor({2, 3, 6, 5}, 2);
    Tensor b = b0.clone();
    blend_v(a, b, extent);
    EXPECT_TRUE(test::AllCloseAbs(b, reference_blend_v(a, b0, extent), kBlendTol));
    // Rows at or past the (clamped) extent are untouched.
    const int64_t e = std::min<int64_t>(extent, 6);
    EXPECT_TRUE(test::AllCloseAbs(b.narrow(2, e, 6 - e), b0.narrow(2, e, 6 - e), 0));
  }
}

TEST(VaeTilingBlend, HorizontalMatchesReferenceLoop) {
  for (const int64_t extent : {0, 1, 2, 4, 9}) {
    SCOPED_TRACE("extent " + std::to_string(extent));
    const Tensor a = test::random_tensor({1, 2, 4, 3}, 3),
                 b0 = test::random_tensor({1, 2, 4, 6}, 4);
    Tensor b = b0.clone();
    blend_h(a, b, extent);
    EXPECT_TRUE(test::AllCloseAbs(b, reference_blend_h(a, b0, extent), kBlendTol));
  }
}

TEST(VaeTilingBlend, WeightsAreLinearFromThePreviousTile) {
  // a = 0, b = 1: row y of b becomes y / e exactly for e = 4 (binary fractions).
  const Tensor a = Tensor::zeros({1, 1, 4, 2});
  Tensor b = Tensor::full({1, 1, 5, 2}, 1.f);
  blend_v(a, b, 4);
  EXPECT_EQ(b.to_floats(), (std::vector<float>{0, 0, .25f, .25f, .5f, .5f, .75f, .75f, 1, 1}));
}

TEST(VaeTilingBlend, MisalignedTilesAreRefused) {
  Tensor b = Tensor::zeros({1, 1, 4, 4});
  EXPECT_THROW(blend_v(Tensor::zeros({1, 1, 4, 5}), b, 2), Error);
  EXPECT_THROW(blend_h(Tensor::zeros({1, 2, 4, 4}), b, 2), Error);
}

TEST(VaeTilingConfig, TileSizeFromSampleSize) {
  nlohmann::json j = {{"block_out_channels", {8, 8, 8, 8}}, {"norm_num_groups", 8}};
  EXPECT_EQ(VaeConfig::from_json(j, "c.json").sample_size, 32);  // diffusers' default
  j["sample_size"] = 512;
  EXPECT_EQ(VaeConfig::from_json(j, "c.json").tile_latent_size(), 64);
  j["sample_size"] = {768, 512};  // a list counts by its first entry, as in diffusers
  EXPECT_EQ(VaeConfig::from_json(j, "c.json").tile_latent_size(), 96);
  j["sample_size"] = 100;  // int(100 / 8)
  EXPECT_EQ(VaeConfig::from_json(j, "c.json").tile_latent_size(), 12);
  j["sample_size"] = 0;
  EXPECT_THROW(VaeConfig::from_json(j, "c.json"), Error);
  j["sample_size"] = nlohmann::json::array();
  EXPECT_THROW(VaeConfig::from_json(j, "c.json"), Error);
}

TEST(VaeTilingGrid, DiffusersNumbers) {
  // SD1.5 (sample_size 512, f = 8): 64-latent tiles every 48 latents, 128 px blended, 384 kept.
  const TileGrid d = decode_grid(64, 512, 0.25);
  EXPECT_EQ(d.in_tile, 64);
  EXPECT_EQ(d.in_stride, 48);
  EXPECT_EQ(d.out_blend, 128);
  EXPECT_EQ(d.out_keep, 384);
  EXPECT_TRUE(grid_is_consistent(d, 8, 1));
  const TileGrid e = encode_grid(64, 512, 0.25);
  EXPECT_EQ(e.in_tile, 512);
  EXPECT_EQ(e.in_stride, 384);
  EXPECT_EQ(e.out_blend, 16);
  EXPECT_EQ(e.out_keep, 48);
  EXPECT_TRUE(grid_is_consistent(e, 1, 8));
  // 10-latent tiles: stride int(7.5) = 7 latents = 56 px, but 80 − 20 = 60 px kept.
  EXPECT_FALSE(grid_is_consistent(decode_grid(10, 80, 0.25), 8, 1));
  EXPECT_FALSE(grid_is_consistent(decode_grid(1, 8, 0.25), 8, 1));  // stride 0
}

// A tile function that returns a constant tile per call, scaled by `factor`, in raster order.
TileFn constant_tiles(std::vector<float> values, int64_t factor, int64_t channels = 1) {
  auto next = std::make_shared<size_t>(0);
  return [values, factor, channels, next](const Tensor& in) {
    const float v = values.at((*next)++);
    return Tensor::full({in.size(0), channels, in.size(2) * factor, in.size(3) * factor}, v);
  };
}

TEST(VaeTilingRun, OneRowWorkedByHand) {
  // Tiles of 8 every 6 (blend 2, keep 6) over width 14: tiles at 0, 6, 12 of widths 8, 8, 2.
  const TileGrid g = decode_grid(8, 8, 0.25);
  const Tensor out = run_tiled(Tensor::zeros({1, 1, 1, 14}), g, constant_tiles({1, 3, 7}, 1));
  // Tile 1 starts with a[-2] · 1 + b · 0 = 1, then a · ½ + b · ½ = 2. Tile 2 (2 wide) blends
  // with tile 1's last two columns (3, 3): 3, then 5.
  EXPECT_EQ(out.to_floats(), (std::vector<float>{1, 1, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 5}));
}

TEST(VaeTilingRun, CornerUsesTheAlreadyBlendedNeighbours) {
  // Tiles of 8 every 6 over 14 × 14: 3 × 3 tiles (8, 8 and 2 wide). Tile (i, j) is the
  // constant c[3i + j] = 2^(3i + j), so every blend below is exact in float.
  std::vector<float> c;
  for (int i = 0; i < 9; ++i) c.push_back(static_cast<float>(1 << i));
  const Tensor out =
      run_tiled(Tensor::zeros({1, 1, 14, 14}), decode_grid(8, 8, 0.25), constant_tiles(c, 1));
  ASSERT_EQ(out.shape(), (Shape{1, 1, 14, 14}));
  auto at = [&](int64_t y, int64_t x) { return out.item_f32({0, 0, y, x}); };
  const float c00 = c[0], c01 = c[1], c10 = c[3], c11 = c[4];
  EXPECT_EQ(at(0, 0), c00);
  EXPECT_EQ(at(0, 6), c00);              // a[-2] with weight 1
  EXPECT_EQ(at(0, 7), (c00 + c01) / 2);  // blend_h
  EXPECT_EQ(at(7, 0), (c00 + c10) / 2);  // blend_v
  EXPECT_EQ(at(6, 6), c00);              // tile (1,1) row 0 col 0: from tile (1,0) col 6
  // Tile (1,1) pixel (1,1): blend_v with tile (0,1) row 7 — already blended with tile (0,0),
  // so (c00 + c01)/2 — then blend_h with tile (1,0) column 7, already (c00 + c10)/2:
  //   ½·(c00 + c10)/2 + ½·(½·(c00 + c01)/2 + ½·c11) = 3/8 c00 + 1/8 c01 + 1/4 c10 + 1/4 c11.
  EXPECT_EQ(at(7, 7), 0.375f * c00 + 0.125f * c01 + 0.25f * c10 + 0.25f * c11);
  EXPECT_EQ(at(9, 9), c11);
}

// diffusers' tiled_decode loop as written upstream: decode every tile first, then blend in
// raster order in place (reference blends), crop and concatenate.
Tensor reference_tiled(const Tensor& x, const TileGrid& g, const TileFn& fn) {
  std::vector<std::vector<Tensor>> rows;
  for (int64_t i = 0; i < x.size(2); i += g.in_stride) {
    rows.emplace_back();
    for (int64_t j = 0; j < x.size(3); j += g.in_stride) {
      const Tensor in = x.narrow(2, i, std::min(g.in_tile, x.size(2) - i))
                            .narrow(3, j, std::min(g.in_tile, x.size(3) - j))
                            .contiguous();
      rows.back().push_back(fn(in));
    }
  }
  std::vector<float> out;
  int64_t out_h = 0, out_w = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) {
      if (i > 0) rows[i][j] = reference_blend_v(rows[i - 1][j], rows[i][j], g.out_blend);
      if (j > 0) rows[i][j] = reference_blend_h(rows[i][j - 1], rows[i][j], g.out_blend);
    }
  }
  // Stitch: output row by output row.
  const int64_t B = rows[0][0].size(0), C = rows[0][0].size(1);
  for (const auto& r : rows) out_h += std::min(g.out_keep, r[0].size(2));
  for (const auto& t : rows[0]) out_w += std::min(g.out_keep, t.size(3));
  Tensor result = Tensor::zeros({B, C, out_h, out_w});
  int64_t y0 = 0;
  for (const auto& r : rows) {
    int64_t x0 = 0;
    const int64_t h = std::min(g.out_keep, r[0].size(2));
    for (const auto& t : r) {
      const int64_t w = std::min(g.out_keep, t.size(3));
      for (int64_t n = 0; n < B; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t y = 0; y < h; ++y)
            for (int64_t xx = 0; xx < w; ++xx)
              result.data<float>()[((n * C + c) * out_h + y0 + y) * out_w + x0 + xx] =
                  t.item_f32({n, c, y, xx});
      x0 += w;
    }
    y0 += h;
  }
  return result;
}

TEST(VaeTilingRun, MatchesDiffusersLoopOnVaryingTiles) {
  // A tile function with real spatial content: nearest ×2 upsampling of the input plus the
  // tile's index, over three channels — so every blend mixes different values.
  const TileGrid g = decode_grid(4, 8, 0.25);  // stride 3, blend 2, keep 6
  ASSERT_TRUE(grid_is_consistent(g, 2, 1));
  auto make_fn = [] {
    auto calls = std::make_shared<int>(0);
    return TileFn([calls](const Tensor& in) {
      const float bump = static_cast<float>((*calls)++);
      Tensor out = Tensor::empty({in.size(0), 3, in.size(2) * 2, in.size(3) * 2});
      for (int64_t n = 0; n < in.size(0); ++n)
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t y = 0; y < out.size(2); ++y)
            for (int64_t x = 0; x < out.size(3); ++x)
              out.data<float>()[((n * 3 + c) * out.size(2) + y) * out.size(3) + x] =
                  in.item_f32({n, c % in.size(1), y / 2, x / 2}) * static_cast<float>(c + 1) + bump;
      return out;
    });
  };
  for (const Shape& shape : {Shape{2, 2, 10, 7}, Shape{1, 1, 4, 4}, Shape{1, 2, 3, 11}}) {
    SCOPED_TRACE(shape_str(shape));
    const Tensor x = test::random_tensor(shape, 5);
    const Tensor got = run_tiled(x, g, make_fn());
    const Tensor want = reference_tiled(x, g, make_fn());
    ASSERT_EQ(got.shape(), (Shape{shape[0], 3, shape[2] * 2, shape[3] * 2}));
    EXPECT_TRUE(test::AllCloseRel(got, want, 1e-6));  // float vs double blends
  }
}

TEST(VaeTilingRun, InvalidGridIsRefused) {
  EXPECT_THROW(run_tiled(Tensor::zeros({1, 1, 4, 4}), TileGrid{4, 0, 1, 3}, constant_tiles({1}, 1)),
               Error);
  EXPECT_THROW(run_tiled(Tensor::zeros({4, 4}), decode_grid(4, 4, 0.25), constant_tiles({1}, 1)),
               Error);
}

}  // namespace
}  // namespace ipa::vae

namespace ipa::vae {
namespace {

// Auto tiling caps the tile at 512 pixels: a VAE whose own tile (sample_size) holds a whole
// 1024² image (SDXL's, sample_size 1024) still decodes a 1024² image in tiles under `auto`,
// while `on` keeps diffusers' rule (no tiling when the latent fits one config tile) and images
// below auto_min_pixels stay untiled. Shape-only decisions, on the real SDXL VAE config.
TEST(VaeTilingConfig, AutoCapsTheTileForLargeConfigTiles) {
  nlohmann::json j = nlohmann::json::parse(std::ifstream(
      std::string(IPA_SOURCE_DIR) + "/configs/sdxl/vae/config.json"));
  ASSERT_EQ(j["sample_size"].get<int>(), 1024);
  const VaeConfig c = VaeConfig::from_json(j, "configs/sdxl/vae/config.json");
  const int64_t f = c.downscale_factor();
  // A random-weight model of that config is only needed for the decision functions.
  bench::RecordingWeightStore store;
  const AutoencoderKL vae(c, store.scope(""));
  TilingOptions o;
  const Shape z1024 = {1, c.latent_channels, 1024 / f, 1024 / f};
  const Shape z768 = {1, c.latent_channels, 768 / f, 768 / f};
  EXPECT_TRUE(vae.decode_tiles(z1024, o));   // auto: 512-px tiles
  EXPECT_FALSE(vae.decode_tiles(z768, o));   // below auto_min_pixels
  o.mode = Tiling::kOn;
  EXPECT_FALSE(vae.decode_tiles(z1024, o));  // diffusers: fits the config's 1024-px tile
  o.mode = Tiling::kOff;
  EXPECT_FALSE(vae.decode_tiles(z1024, o));
  // SD1.5's VAE (sample_size 512) is unchanged by the cap.
  nlohmann::json j15 = nlohmann::json::parse(std::ifstream(
      std::string(IPA_SOURCE_DIR) + "/configs/sd15/vae/config.json"));
  const VaeConfig c15 = VaeConfig::from_json(j15, "configs/sd15/vae/config.json");
  bench::RecordingWeightStore store15;
  const AutoencoderKL vae15(c15, store15.scope(""));
  TilingOptions on;
  on.mode = Tiling::kOn;
  EXPECT_EQ(vae15.decode_tiles(z1024, TilingOptions{}), vae15.decode_tiles(z1024, on));
}

}  // namespace
}  // namespace ipa::vae
