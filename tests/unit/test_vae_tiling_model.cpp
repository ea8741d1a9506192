// Tiled VAE decode / encode on the golden tiny VAE (case vae) checked against our own code:
// tiled vs our untiled decode, each tile's placement vs our decode of its crop, batch rows vs
// single images, and the tiling options. The expected values come from this project, not from
// the reference, so these are unit tests; the comparison with diffusers' tiled output is
// tests/golden/test_vae_tiling.cpp (case vae_tiling).
//
// Sizes come from the VAE's config.json and the case tensors (IPADAPTER_GOLDEN_DIR may point at
// a tiny VAE of another size): the config's tile, or the smallest forced tile that tiles evenly.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <random>

#include "formats/json_file.h"
#include "models/vae/autoencoder_kl.h"
#include "models/vae/vae_tiling.h"
#include "tensor/block_pool.h"
#include "test_support.h"

namespace ipa::vae {
namespace {

const AutoencoderKL& model() {
  static const AutoencoderKL vae = AutoencoderKL::load(test::golden_path("vae/vae"));
  return vae;
}
Tensor golden(const std::string& key) {
  return test::golden_tensor(test::load_golden("vae"), key);
}

TilingOptions forced(int64_t tile_latent) {
  TilingOptions t;
  t.mode = Tiling::kOn;
  t.tile_latent_size = tile_latent;
  return t;
}

const double kOverlap = TilingOptions{}.overlap;  // diffusers' default, 0.25

// A forced tile of t latents for this VAE (t · f pixels), as decode or encode cuts it.
TileGrid grid_for(int64_t t, bool encode) {
  const int64_t f = model().config().downscale_factor();
  return encode ? encode_grid(t, t * f, kOverlap) : decode_grid(t, t * f, kOverlap);
}
bool tiles_evenly(int64_t t, bool encode) {
  const int64_t f = model().config().downscale_factor();
  const TileGrid g = grid_for(t, encode);
  return g.in_stride > 0 && g.out_blend > 0 &&
         (encode ? grid_is_consistent(g, 1, f) : grid_is_consistent(g, f, 1));
}
// The smallest forced tile (latents) that strides, blends and tiles evenly: the cheapest tile
// that still exercises placement and blending.
int64_t smallest_tile(bool encode) {
  for (int64_t t = 1; t <= 1024; ++t)
    if (tiles_evenly(t, encode)) return t;
  ADD_FAILURE() << "no tile size tiles evenly";
  return 0;
}
// The smallest tile above smallest_tile() that strides but does not tile evenly.
int64_t uneven_tile() {
  for (int64_t t = smallest_tile(false) + 1; t <= 1024; ++t)
    if (grid_for(t, false).in_stride > 0 && !tiles_evenly(t, false)) return t;
  ADD_FAILURE() << "every tile size tiles evenly";
  return 0;
}

// x ([B, C, H, W]) repeated periodically to at least `batch` rows and `hw` pixels per side; x
// itself when already that large (so the case's own tensors are used whenever they suffice).
Tensor at_least(const Tensor& x, int64_t batch, int64_t hw) {
  const int64_t B = std::max(x.size(0), batch), C = x.size(1);
  const int64_t H = std::max(x.size(2), hw), W = std::max(x.size(3), hw);
  if (B == x.size(0) && H == x.size(2) && W == x.size(3)) return x;
  const std::vector<float> v = x.contiguous().to_floats();
  std::vector<float> out(static_cast<size_t>(B * C * H * W));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t xx = 0; xx < W; ++xx)
          out[static_cast<size_t>(((b * C + c) * H + y) * W + xx)] = v[static_cast<size_t>(
              (((b % x.size(0)) * C + c) * x.size(2) + y % x.size(2)) * x.size(3) +
              xx % x.size(3))];
  return Tensor::from_vector({B, C, H, W}, out);
}

struct Diff {
  double max_abs = 0, mean_abs = 0, max_ref = 0;
};
Diff diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_floats(), y = b.to_floats();
  Diff d;
  for (size_t i = 0; i < x.size(); ++i) {
    const double e = std::fabs(static_cast<double>(x[i]) - y[i]);
    d.max_abs = std::max(d.max_abs, e);
    d.mean_abs += e;
    d.max_ref = std::max(d.max_ref, std::fabs(static_cast<double>(y[i])));
  }
  d.mean_abs /= static_cast<double>(x.size());
  return d;
}

Tensor crop(const Tensor& t, int64_t y, int64_t x, int64_t h, int64_t w) {
  return t.narrow(2, y, h).narrow(3, x, w).contiguous();
}

TEST(VaeTilingModel, LatentThatFitsOneTileDecodesExactlyUntiled) {
  // The case's latent, cut down to one config tile where it is larger.
  const int64_t T = model().config().tile_latent_size();
  const Tensor full = golden("decode_input");
  const Tensor z = crop(full, 0, 0, std::min(full.size(2), T), std::min(full.size(3), T));
  ASSERT_LE(z.size(2), T);
  ASSERT_LE(z.size(3), T);
  const Tensor untiled = model().decode(z);
  for (const Tiling mode : {Tiling::kOn, Tiling::kAuto}) {
    SCOPED_TRACE(tiling_name(mode));
    TilingOptions t;
    t.mode = mode;
    t.auto_min_pixels = 1;  // size alone would ask auto to tile
    EXPECT_FALSE(model().decode_tiles(z.shape(), t));
    EXPECT_TRUE(test::AllCloseAbs(model().decode(z, t), untiled, 0));
  }
  // A tile exactly the latent's size still fits (diffusers tiles only larger inputs).
  EXPECT_TRUE(
      test::AllCloseAbs(model().decode(z, forced(std::max(z.size(2), z.size(3)))), untiled, 0));
}

// The smallest even tile (4 latents for f = 8: stride 3 latents, 8 px blended, 24 px kept).
TEST(VaeTilingModel, TiledDecodePlacesAndBlendsTileDecodes) {
  const int64_t T = smallest_tile(false);
  const TileGrid g = grid_for(T, false);
  const int64_t stride = g.in_stride, blend = g.out_blend, keep = g.out_keep;
  // At least three tile rows and columns, tile (1, 1) whole: the case's latent when it is that
  // large.
  const Tensor z = at_least(golden("decode_input"), 1, T + stride + 1);
  ASSERT_GT(z.size(2), T + stride);
  ASSERT_GT(z.size(3), T + stride);
  const Tensor tiled = model().decode(z, forced(T));
  ASSERT_EQ(tiled.shape(), model().decode(z).shape());

  // Tile (0, 0) is never blended: its kept part is its own decode.
  const Tensor t00 = model().decode(crop(z, 0, 0, T, T));
  EXPECT_TRUE(test::AllCloseAbs(crop(tiled, 0, 0, keep, keep), crop(t00, 0, 0, keep, keep), 0));
  // Tile (1, 1) past its blended first rows and columns is its own decode, in place.
  const Tensor t11 = model().decode(crop(z, stride, stride, T, T));
  const int64_t inner = keep - blend;
  ASSERT_GT(inner, 0);
  EXPECT_TRUE(test::AllCloseAbs(crop(tiled, keep + blend, keep + blend, inner, inner),
                                crop(t11, blend, blend, inner, inner), 0));
  // Tile (1, 0)'s blended rows, right of tile (0, 1)'s columns: linear mix of the tile above's
  // rows keep..keep+blend and its own first rows (rounding only: float vs double weights).
  const Tensor t10 = model().decode(crop(z, stride, 0, T, T));
  const Tensor got = crop(tiled, keep, 0, blend, keep);
  Tensor want = Tensor::empty(got.shape());
  const Tensor above = crop(t00, keep, 0, blend, keep), own = crop(t10, 0, 0, blend, keep);
  const auto a = above.to_floats(), b = own.to_floats();
  float* w = want.data<float>();
  const int64_t planes = got.size(0) * got.size(1);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t y = 0; y < blend; ++y)
      for (int64_t x = 0; x < keep; ++x) {
        const size_t i = static_cast<size_t>((p * blend + y) * keep + x);
        const double t = static_cast<double>(y) / static_cast<double>(blend);
        w[i] = static_cast<float>(a[i] * (1 - t) + b[i] * t);
      }
  EXPECT_TRUE(test::AllCloseRel(got, want, 1e-6));
}

// Mean |x[.., c + 1] − x[.., c]| over batch, channels and rows: the step between columns c and
// c + 1 (rows: pass a transposed tensor).
std::vector<double> column_steps(const Tensor& t) {
  const auto v = t.to_floats();
  const int64_t W = t.size(3), rows = t.numel() / W;
  std::vector<double> steps(static_cast<size_t>(W - 1), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c + 1 < W; ++c)
      steps[c] += std::fabs(static_cast<double>(v[r * W + c + 1]) - v[r * W + c]);
  for (double& s : steps) s /= static_cast<double>(rows);
  return steps;
}

// Tiling with the config's own tile (diffusers' default) on a latent 2.5 tiles wide.
// How far tiling moves the image is not a rounding tolerance: each tile is decoded without
// its neighbours (GroupNorm statistics and mid-block attention see only the tile, convolutions
// see zero padding at its edges), and this VAE's weights are random, so the change is large
// (measured mean|Δ| ≈ 0.6 · mean|untiled|, docs/models.md). The checks are therefore:
//   * seams: across every tile boundary, the blended image steps from column to column no
//     more than 1.5 × the untiled image does in the same columns (measured ≤ 1.17×; an
//     unblended stitch jumps ~1.4–1.7× — blending is what hides the seam);
//   * a loose guard, mean|Δ| ≤ mean|untiled|, that a misplaced tile would break.
TEST(VaeTilingModel, TiledDecodeHidesSeams) {
  const VaeConfig& c = model().config();
  const int64_t T = c.tile_latent_size(), n = 2 * T + T / 2;
  const TileGrid g = decode_grid(T, c.sample_size, kOverlap);
  if (!grid_is_consistent(g, c.downscale_factor(), 1)) {
    GTEST_SKIP() << "the config's tile (" << T << " latents) does not tile evenly: tiling with it "
                 << "is refused (BadOptionsAreRefused)";
  }
  const Tensor z = test::random_tensor({1, c.latent_channels, n, n}, 3, -2.f, 2.f);
  TilingOptions on;
  on.mode = Tiling::kOn;
  const Tensor untiled = model().decode(z), tiled = model().decode(z, on);
  ASSERT_EQ(tiled.shape(), untiled.shape());
  const Diff d = diff(tiled, untiled);
  double mean_ref = 0;
  for (float v : untiled.to_floats()) mean_ref += std::fabs(v);
  mean_ref /= static_cast<double>(untiled.numel());
  std::cout << "tiled(" << T << ") vs untiled decode of " << n << "x" << n << " latents: max|d| "
            << d.max_abs << ", mean|d| " << d.mean_abs << ", mean|untiled| " << mean_ref << "\n";
  EXPECT_GT(d.max_abs, 0.0);  // the tiles really were decoded apart
  EXPECT_LE(d.mean_abs, mean_ref);

  for (const bool rows : {false, true}) {
    const Tensor a = rows ? tiled.transpose(2, 3).contiguous() : tiled;
    const Tensor b = rows ? untiled.transpose(2, 3).contiguous() : untiled;
    const std::vector<double> st = column_steps(a), su = column_steps(b);
    for (int64_t c0 = g.out_keep; c0 + 1 < a.size(3); c0 += g.out_keep) {
      // The window: the last kept column of one tile through the blended columns of the next.
      double worst_tiled = 0, worst_untiled = 0;
      for (int64_t col = c0 - 1; col < std::min(c0 + g.out_blend, a.size(3) - 1); ++col) {
        worst_tiled = std::max(worst_tiled, st[col]);
        worst_untiled = std::max(worst_untiled, su[col]);
      }
      std::cout << (rows ? "row" : "column") << " boundary " << c0 << ": largest step tiled "
                << worst_tiled << ", untiled " << worst_untiled << "\n";
      EXPECT_LE(worst_tiled, 1.5 * worst_untiled) << (rows ? "row " : "column ") << c0;
    }
  }
}

TEST(VaeTilingModel, TiledEncodePlacesTileEncodings) {
  const int64_t T = smallest_tile(true);
  const TileGrid g = grid_for(T, true);
  const int64_t keep = g.out_keep, blend = g.out_blend, inner = keep - blend;
  ASSERT_GT(inner, 0);
  // Tile (1, 1) whole (so at least two tile rows and columns, and a whole number of latents):
  // the case's image when it is that large.
  const Tensor image = at_least(golden("image"), 1, g.in_tile + g.in_stride);
  ASSERT_GE(image.size(2), g.in_tile + g.in_stride);
  ASSERT_GE(image.size(3), g.in_tile + g.in_stride);
  const LatentDistribution untiled = model().encode(image);
  const LatentDistribution tiled = model().encode(image, forced(T));
  ASSERT_EQ(tiled.mean.shape(), untiled.mean.shape());
  // Tile (0, 0)'s kept latents are its own encoding.
  const LatentDistribution t00 = model().encode(crop(image, 0, 0, g.in_tile, g.in_tile));
  EXPECT_TRUE(
      test::AllCloseAbs(crop(tiled.mean, 0, 0, keep, keep), crop(t00.mean, 0, 0, keep, keep), 0));
  EXPECT_TRUE(test::AllCloseAbs(crop(tiled.logvar, 0, 0, keep, keep),
                                crop(t00.logvar, 0, 0, keep, keep), 0));
  // Tile (1, 1) past its blended first rows and columns is its own encoding, in place.
  const LatentDistribution t11 =
      model().encode(crop(image, g.in_stride, g.in_stride, g.in_tile, g.in_tile));
  EXPECT_TRUE(test::AllCloseAbs(crop(tiled.mean, keep + blend, keep + blend, inner, inner),
                                crop(t11.mean, blend, blend, inner, inner), 0));
  EXPECT_TRUE(test::AllCloseAbs(crop(tiled.logvar, keep + blend, keep + blend, inner, inner),
                                crop(t11.logvar, blend, blend, inner, inner), 0));
  // Tiling does move the latents (each tile sees little): how far is not a tolerance, only a
  // loose guard that a misplaced tile would break, as for decode.
  const Diff d = diff(tiled.mean, untiled.mean);
  double mean_ref = 0;
  for (float v : untiled.mean.to_floats()) mean_ref += std::fabs(v);
  mean_ref /= static_cast<double>(untiled.mean.numel());
  std::cout << "tiled(" << T << ") vs untiled encode mean: max|d| " << d.max_abs << ", mean|d| "
            << d.mean_abs << ", max|untiled| " << d.max_ref << ", mean|untiled| " << mean_ref
            << "\n";
  EXPECT_GT(d.max_abs, 0.0);
  EXPECT_LE(d.mean_abs, mean_ref);
}

TEST(VaeTilingModel, BatchRowsTileLikeSingleImages) {
  const int64_t T = smallest_tile(false);
  // At least two rows, each larger than one tile: the case's latent when it is that large.
  const Tensor z = at_least(golden("decode_input"), 2, T + 1);
  ASSERT_TRUE(model().decode_tiles(z.shape(), forced(T)));
  const Tensor batch = model().decode(z, forced(T));
  for (int64_t b = 0; b < z.size(0); ++b) {
    SCOPED_TRACE("image " + std::to_string(b));
    EXPECT_TRUE(test::AllCloseRel(model().decode(z.narrow(0, b, 1).contiguous(), forced(T)),
                                  batch.narrow(0, b, 1), 1e-4));
  }
}

TEST(VaeTilingModel, AutoTilesOnlyLargeImages) {
  const VaeConfig& c = model().config();
  const int64_t f = c.downscale_factor(), L = c.latent_channels, I = c.in_channels;
  TilingOptions t;  // auto, config tile (sample_size / f latents)
  const int64_t T = c.tile_latent_size();
  // auto tiles only with a tile that tiles evenly (the SD configs' tiles do).
  const bool even_decode = grid_is_consistent(decode_grid(T, c.sample_size, kOverlap), f, 1);
  const bool even_encode = grid_is_consistent(encode_grid(T, c.sample_size, kOverlap), 1, f);
  EXPECT_FALSE(model().decode_tiles({1, L, T, T}, t));
  t.auto_min_pixels = (T + 1) * f * (T + 1) * f;
  EXPECT_EQ(model().decode_tiles({1, L, T + 1, T + 1}, t), even_decode);
  EXPECT_FALSE(model().decode_tiles({1, L, T + 1, T}, t));  // below the pixel count
  EXPECT_EQ(model().encode_tiles({1, I, (T + 1) * f, (T + 1) * f}, t), even_encode);
  EXPECT_FALSE(model().encode_tiles({1, I, T * f, T * f}, t));
  t.mode = Tiling::kOn;
  EXPECT_TRUE(model().decode_tiles({1, L, T + 1, 1}, t));
  t.mode = Tiling::kOff;
  EXPECT_FALSE(model().decode_tiles({1, L, 10 * T, 10 * T}, t));
  // A tile size that cannot tile evenly: auto falls back to untiled (on is an error, below).
  const int64_t odd_tile = uneven_tile();
  TilingOptions odd = forced(odd_tile);
  odd.mode = Tiling::kAuto;
  odd.auto_min_pixels = 1;
  EXPECT_FALSE(model().decode_tiles({1, L, odd_tile + 1, odd_tile + 1}, odd));
  odd.tile_latent_size = smallest_tile(false);  // while an even tile does tile
  EXPECT_TRUE(model().decode_tiles({1, L, odd_tile + 1, odd_tile + 1}, odd));
}

TEST(VaeTilingModel, BadOptionsAreRefused) {
  const int64_t odd_tile = uneven_tile(), even_tile = smallest_tile(false);
  const Tensor z = at_least(golden("decode_input"), 1, odd_tile + 1);  // larger than one tile
  const std::string msg = test::error_of([&] { model().decode(z, forced(odd_tile)); });
  EXPECT_TRUE(test::contains(msg, "tiles of " + std::to_string(odd_tile) + " latents")) << msg;
  EXPECT_TRUE(test::contains(msg, "multiple of 4")) << msg;  // the rule for overlap 0.25
  TilingOptions t = forced(even_tile);
  t.overlap = 1.0;
  EXPECT_THROW(model().decode(z, t), Error);
  EXPECT_THROW(model().decode(z, forced(-1)), Error);
  const int64_t wrong_channels = model().config().latent_channels + 1;
  EXPECT_THROW(
      model().tiled_decode(Tensor::zeros({1, wrong_channels, 2 * even_tile, 2 * even_tile}),
                           forced(even_tile)),
      Error);
  EXPECT_THROW(parse_tiling("sometimes"), Error);
  EXPECT_EQ(parse_tiling("on"), Tiling::kOn);
  EXPECT_EQ(parse_tiling("off"), Tiling::kOff);
  EXPECT_EQ(parse_tiling("auto"), Tiling::kAuto);
}

// ---- memory measurement (not part of the suite: minutes, and it needs a quiet process) ----

// Random weights for any AutoencoderKL config, named as diffusers names them.
WeightStore random_vae_weights(const VaeConfig& c) {
  WeightStore ws;
  std::mt19937 rng(1);
  auto add = [&](const std::string& name, const Shape& shape, float scale) {
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float> v(static_cast<size_t>(numel_of(shape)));
    for (float& x : v) x = u(rng);
    ws.add(name, Tensor::from_vector(shape, v), "random");
  };
  auto conv = [&](const std::string& n, int64_t in, int64_t out, int64_t k) {
    add(n + ".weight", {out, in, k, k}, 1.f / std::sqrt(static_cast<float>(in * k * k)));
    add(n + ".bias", {out}, 0.01f);
  };
  auto norm = [&](const std::string& n, int64_t ch) {
    ws.add(n + ".weight", Tensor::full({ch}, 1.f), "random");
    ws.add(n + ".bias", Tensor::zeros({ch}), "random");
  };
  auto resnet = [&](const std::string& n, int64_t in, int64_t out) {
    norm(n + ".norm1", in);
    conv(n + ".conv1", in, out, 3);
    norm(n + ".norm2", out);
    conv(n + ".conv2", out, out, 3);
    if (in != out) conv(n + ".conv_shortcut", in, out, 1);
  };
  auto mid = [&](const std::string& n, int64_t ch) {
    resnet(n + ".resnets.0", ch, ch);
    if (c.mid_block_add_attention) {
      norm(n + ".attentions.0.group_norm", ch);
      for (const char* p : {"to_q", "to_k", "to_v", "to_out.0"}) {
        add(n + ".attentions.0." + p + ".weight", {ch, ch},
            1.f / std::sqrt(static_cast<float>(ch)));
        add(n + ".attentions.0." + p + ".bias", {ch}, 0.01f);
      }
    }
    resnet(n + ".resnets.1", ch, ch);
  };
  const auto& ch = c.block_out_channels;
  const int64_t L = c.latent_channels, n = c.num_blocks();
  conv("encoder.conv_in", c.in_channels, ch[0], 3);
  int64_t in = ch[0];
  for (int64_t i = 0; i < n; ++i) {
    const std::string b = "encoder.down_blocks." + std::to_string(i);
    for (int64_t r = 0; r < c.layers_per_block; ++r) {
      resnet(b + ".resnets." + std::to_string(r), r == 0 ? in : ch[i], ch[i]);
    }
    if (i + 1 < n) conv(b + ".downsamplers.0.conv", ch[i], ch[i], 3);
    in = ch[i];
  }
  mid("encoder.mid_block", ch.back());
  norm("encoder.conv_norm_out", ch.back());
  conv("encoder.conv_out", ch.back(), 2 * L, 3);
  conv("decoder.conv_in", L, ch.back(), 3);
  mid("decoder.mid_block", ch.back());
  in = ch.back();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t out = ch[n - 1 - i];
    const std::string b = "decoder.up_blocks." + std::to_string(i);
    for (int64_t r = 0; r <= c.layers_per_block; ++r) {
      resnet(b + ".resnets." + std::to_string(r), r == 0 ? in : out, out);
    }
    if (i + 1 < n) conv(b + ".upsamplers.0.conv", out, out, 3);
    in = out;
  }
  norm("decoder.conv_norm_out", ch[0]);
  conv("decoder.conv_out", ch[0], c.out_channels, 3);
  conv("quant_conv", 2 * L, 2 * L, 1);
  conv("post_quant_conv", L, L, 1);
  return ws;
}

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : fallback;
}

// Peak block-pool bytes (tensors: weights + activations) of a tiled and an untiled decode of a
// random-weight VAE with the SD1.5 structure (configs/sd15/vae), channels divided by
// IPA_VAE_MEM_DIV (default 4), at IPA_VAE_MEM_SIZE² pixels (default 1024). The tiled decode
// runs first: the pool's peak only grows. Run alone:
//   build/ci/tests/unit_tests --gtest_also_run_disabled_tests
//     --gtest_filter=VaeTilingMemory.DISABLED_PeakPoolBytes
TEST(VaeTilingMemory, DISABLED_PeakPoolBytes) {
  auto j = read_json_file(std::string(IPA_SOURCE_DIR) + "/configs/sd15/vae/config.json");
  const int64_t div = env_int("IPA_VAE_MEM_DIV", 4), size = env_int("IPA_VAE_MEM_SIZE", 1024);
  std::vector<int64_t> ch = j["block_out_channels"];
  for (auto& c : ch) c /= div;
  j["block_out_channels"] = ch;
  j["norm_num_groups"] = std::min<int64_t>(j["norm_num_groups"].get<int64_t>(), ch[0]);
  const VaeConfig config = VaeConfig::from_json(j, "configs/sd15/vae/config.json");
  const WeightStore ws = random_vae_weights(config);
  const AutoencoderKL vae(config, ws.scope(""));
  const size_t weights = pool_stats().bytes_in_use;
  const int64_t h = size / config.downscale_factor();
  const Tensor z = test::random_tensor({1, config.latent_channels, h, h}, 9);
  auto run = [&](const char* what, const TilingOptions& t) {
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor out = vae.decode(z, t);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << what << ": channels " << shape_str(ch) << ", " << size << "^2, peak pool "
              << (pool_stats().peak_in_use - weights) / 1e6 << " MB above the weights ("
              << weights / 1e6 << " MB), " << s << " s\n";
    return out;
  };
  TilingOptions on, off;
  on.mode = Tiling::kOn;
  off.mode = Tiling::kOff;
  ASSERT_TRUE(vae.decode_tiles(z.shape(), on));
  const Tensor tiled = run("tiled", on);
  const Tensor untiled = run("untiled", off);
  const Diff d = diff(tiled, untiled);
  std::cout << "tiled vs untiled: max|d| " << d.max_abs << ", mean|d| " << d.mean_abs
            << ", max|untiled| " << d.max_ref << "\n";
}

}  // namespace
}  // namespace ipa::vae
