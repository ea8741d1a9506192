// Tiled VAE decode / encode against diffusers' enable_tiling (case vae_tiling): the tile grid,
// every raw tile the reference decoded / encoded, the stitching of the reference's own tiles, and
// the whole tiled decode and encode, for every VAE the case lists.
//
// Every size and count here (tile sizes, strides, blend extents, tile spans, grid, channel
// counts) comes from the case JSON and the VAE's config.json, never from this file, so the test
// holds for any tiny VAE of the same structure (IPADAPTER_GOLDEN_DIR).
//
// Tests whose expected values come from our own code (tiled vs our untiled decode, placement of
// our own tile decodes, options) are unit tests: tests/unit/test_vae_tiling_model.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "models/vae/autoencoder_kl.h"
#include "models/vae/vae_tiling.h"
#include "test_support.h"

namespace ipa::vae {
namespace {

// fp32 through the same float ops as torch: relative to max|expected|.
constexpr double kTol = 1e-4;
// Blending the reference's own tiles: float rounding only (blend weights in double vs torch's).
constexpr double kStitchTol = 1e-6;

const nlohmann::json& tiling_case() {
  static const nlohmann::json j = test::load_case("vae_tiling");
  return j;
}
Tensor golden(const std::string& key) {
  return test::golden_tensor(test::load_golden("vae_tiling"), key);
}

// The VAEs the case ran, by name (e.g. the pipelines' VAE folders).
std::vector<std::string> vae_names() {
  std::vector<std::string> names;
  for (const auto& [name, _] : tiling_case().at("vaes").items()) names.push_back(name);
  return names;
}
const nlohmann::json& info(const std::string& name) {
  return tiling_case().at("vaes").at(name);
}

const AutoencoderKL& vae(const std::string& name) {
  static std::map<std::string, AutoencoderKL> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    const std::string dir =
        test::golden_path("vae_tiling/" + info(name).at("vae_dir").get<std::string>());
    it = cache.emplace(name, AutoencoderKL::load(dir)).first;
  }
  return it->second;
}

// diffusers' settings for this VAE, as the case recorded them: enable_tiling() (tile whenever the
// input is larger than one tile), tile_latent_min_size, tile_overlap_factor. The tile in pixels
// is tile_latent · f here; CaseMatchesTheVaeConfigs checks it equals tile_sample_min_size.
TilingOptions diffusers_tiling(const std::string& name) {
  TilingOptions t;
  t.mode = Tiling::kOn;
  t.tile_latent_size = info(name).at("tile_latent_min_size").get<int64_t>();
  t.overlap = info(name).at("tile_overlap_factor").get<double>();
  return t;
}

// diffusers' grids for the case's settings.
TileGrid case_decode_grid(const std::string& name) {
  const nlohmann::json& v = info(name);
  return decode_grid(v.at("tile_latent_min_size").get<int64_t>(),
                     v.at("tile_sample_min_size").get<int64_t>(),
                     v.at("tile_overlap_factor").get<double>());
}
TileGrid case_encode_grid(const std::string& name) {
  const nlohmann::json& v = info(name);
  return encode_grid(v.at("tile_latent_min_size").get<int64_t>(),
                     v.at("tile_sample_min_size").get<int64_t>(),
                     v.at("tile_overlap_factor").get<double>());
}

using Span = std::pair<int64_t, int64_t>;  // [begin, end) along one side
std::vector<Span> spans(const nlohmann::json& j) {
  std::vector<Span> out;
  for (const auto& s : j) out.emplace_back(s.at(0).get<int64_t>(), s.at(1).get<int64_t>());
  return out;
}
// Where diffusers' loop cuts a side of `size`: tiles start every `stride`, `tile` long, cut
// short at the far edge.
std::vector<Span> cut(int64_t size, int64_t tile, int64_t stride) {
  std::vector<Span> out;
  if (stride <= 0) {
    ADD_FAILURE() << "tile stride " << stride;
    return out;
  }
  for (int64_t i = 0; i < size; i += stride) out.emplace_back(i, std::min(i + tile, size));
  return out;
}

Tensor crop(const Tensor& t, const Span& rows, const Span& cols) {
  return t.narrow(2, rows.first, rows.second - rows.first)
      .narrow(3, cols.first, cols.second - cols.first)
      .contiguous();
}

std::string tile_key(const std::string& name, const char* what, size_t a, size_t b) {
  return name + "." + what + "." + std::to_string(a) + "." + std::to_string(b);
}

// How many golden tensors the case lists whose name starts with `prefix`.
size_t tensors_named(const std::string& prefix) {
  size_t n = 0;
  for (const auto& [key, _] : tiling_case().at("tensors").items())
    if (key.starts_with(prefix)) ++n;
  return n;
}

// torch.clamp(logvar, -30, 20), as DiagonalGaussianDistribution does.
Tensor clamp_logvar(const Tensor& t) {
  std::vector<float> v = t.to_floats();
  for (float& x : v) x = std::clamp(x, -30.f, 20.f);
  return Tensor::from_vector(t.shape(), v);
}

TEST(VaeTilingGolden, CaseMatchesTheVaeConfigs) {
  ASSERT_FALSE(vae_names().empty());
  for (const std::string& name : vae_names()) {
    SCOPED_TRACE(name);
    const nlohmann::json& v = info(name);
    const VaeConfig& c = vae(name).config();
    // The folder the test loads is the one the case describes.
    EXPECT_EQ(c.block_out_channels,
              v.at("config").at("block_out_channels").get<std::vector<int64_t>>());
    EXPECT_EQ(c.latent_channels, v.at("config").at("latent_channels").get<int64_t>());
    EXPECT_EQ(c.downscale_factor(), v.at("downscale").get<int64_t>());
    const int64_t T = v.at("tile_latent_min_size").get<int64_t>();
    const int64_t S = v.at("tile_sample_min_size").get<int64_t>();
    // Our tile in pixels is tile_latent · f: the case's tiles must be of that kind.
    ASSERT_EQ(T * c.downscale_factor(), S);
    // diffusers' defaults: tile_sample_min_size = sample_size, tile_latent_min_size =
    // int(sample_size / 2^(levels − 1)), which is what tile 0 (the config's) means here.
    if (S == c.sample_size) {
      EXPECT_EQ(c.tile_latent_size(), T);
    }

    // Grid numbers, as diffusers computed them.
    const nlohmann::json& dj = v.at("decode");
    const TileGrid d = case_decode_grid(name);
    EXPECT_EQ(d.in_tile, T);
    EXPECT_EQ(d.in_stride, dj.at("overlap_size").get<int64_t>());
    EXPECT_EQ(d.out_blend, dj.at("blend_extent").get<int64_t>());
    EXPECT_EQ(d.out_keep, dj.at("row_limit").get<int64_t>());
    const nlohmann::json& ej = v.at("encode");
    const TileGrid e = case_encode_grid(name);
    EXPECT_EQ(e.in_tile, S);
    EXPECT_EQ(e.in_stride, ej.at("overlap_size").get<int64_t>());
    EXPECT_EQ(e.out_blend, ej.at("blend_extent").get<int64_t>());
    EXPECT_EQ(e.out_keep, ej.at("row_limit").get<int64_t>());

    // Tile spans: the recorded ones are the ones our loop cuts (the raw-tile tests crop them).
    const Tensor z = golden(name + ".decode_input");
    const Tensor x = golden(name + ".encode_input");
    const auto lhw = dj.at("latent_hw").get<std::vector<int64_t>>();
    const auto ihw = ej.at("image_hw").get<std::vector<int64_t>>();
    ASSERT_EQ(lhw.size(), 2u);
    ASSERT_EQ(ihw.size(), 2u);
    EXPECT_EQ(z.size(2), lhw[0]);
    EXPECT_EQ(z.size(3), lhw[1]);
    EXPECT_EQ(x.size(2), ihw[0]);
    EXPECT_EQ(x.size(3), ihw[1]);
    EXPECT_EQ(cut(lhw[0], d.in_tile, d.in_stride), spans(dj.at("tiles_rows_latent")));
    EXPECT_EQ(cut(lhw[1], d.in_tile, d.in_stride), spans(dj.at("tiles_cols_latent")));
    EXPECT_EQ(cut(ihw[0], e.in_tile, e.in_stride), spans(ej.at("tiles_rows_px")));
    EXPECT_EQ(cut(ihw[1], e.in_tile, e.in_stride), spans(ej.at("tiles_cols_px")));
    const auto dgrid = dj.at("grid").get<std::vector<size_t>>();
    const auto egrid = ej.at("grid").get<std::vector<size_t>>();
    EXPECT_EQ(dgrid, (std::vector<size_t>{dj.at("tiles_rows_latent").size(),
                                          dj.at("tiles_cols_latent").size()}));
    EXPECT_EQ(egrid,
              (std::vector<size_t>{ej.at("tiles_rows_px").size(), ej.at("tiles_cols_px").size()}));
    // The golden file holds every raw tile of the grid.
    EXPECT_EQ(tensors_named(name + ".decode_tile."), dgrid.at(0) * dgrid.at(1));
    EXPECT_EQ(tensors_named(name + ".encode_tile_moments."), egrid.at(0) * egrid.at(1));
    // diffusers tiles these inputs (the tiling rule: larger than one tile along a side), and so
    // do we with the same settings.
    const TilingOptions t = diffusers_tiling(name);
    EXPECT_EQ(vae(name).decode_tiles(z.shape(), t), lhw[0] > T || lhw[1] > T);
    EXPECT_EQ(vae(name).encode_tiles(x.shape(), t), ihw[0] > S || ihw[1] > S);
  }
}

// Each tile's raw decoder output (post_quant_conv + decoder on the latent crop alone, before any
// blending) matches diffusers'.
TEST(VaeTilingGolden, RawDecodeTiles) {
  for (const std::string& name : vae_names()) {
    const nlohmann::json& dj = info(name).at("decode");
    const Tensor z = golden(name + ".decode_input");
    const auto rows = spans(dj.at("tiles_rows_latent")), cols = spans(dj.at("tiles_cols_latent"));
    for (size_t a = 0; a < rows.size(); ++a)
      for (size_t b = 0; b < cols.size(); ++b) {
        const std::string key = tile_key(name, "decode_tile", a, b);
        SCOPED_TRACE(key);
        EXPECT_TRUE(
            test::AllCloseRel(vae(name).decode(crop(z, rows[a], cols[b])), golden(key), kTol));
      }
  }
}

// Blending and stitching diffusers' own raw tiles gives diffusers' tiled image: the stitching
// alone, free of any decoder difference.
TEST(VaeTilingGolden, StitchingReferenceDecodeTiles) {
  for (const std::string& name : vae_names()) {
    SCOPED_TRACE(name);
    const int64_t f = vae(name).config().downscale_factor();
    const TileGrid g = case_decode_grid(name);
    const size_t cols = info(name).at("decode").at("tiles_cols_latent").size();
    size_t next = 0;
    const Tensor got = run_tiled(golden(name + ".decode_input"), g, [&](const Tensor& in) {
      const size_t i = next++;
      const Tensor tile = golden(tile_key(name, "decode_tile", i / cols, i % cols));
      // The crop handed over is the one the reference decoded into this tile.
      EXPECT_EQ(in.size(2) * f, tile.size(2)) << "tile " << i;
      EXPECT_EQ(in.size(3) * f, tile.size(3)) << "tile " << i;
      return tile.clone();
    });
    EXPECT_EQ(next, tensors_named(name + ".decode_tile."));
    EXPECT_TRUE(test::AllCloseRel(got, golden(name + ".tiled_decoded"), kStitchTol));
  }
}

TEST(VaeTilingGolden, TiledDecode) {
  for (const std::string& name : vae_names()) {
    SCOPED_TRACE(name);
    const Tensor z = golden(name + ".decode_input");
    EXPECT_TRUE(test::AllCloseRel(vae(name).decode(z), golden(name + ".decoded"), kTol));
    EXPECT_TRUE(test::AllCloseRel(vae(name).decode(z, diffusers_tiling(name)),
                                  golden(name + ".tiled_decoded"), kTol));
  }
}

// Each tile's raw quant_conv output (mean ++ logvar channels) matches diffusers'; our encode of
// the crop gives the mean and the clamped logvar.
TEST(VaeTilingGolden, RawEncodeTiles) {
  for (const std::string& name : vae_names()) {
    const nlohmann::json& ej = info(name).at("encode");
    const int64_t L = vae(name).config().latent_channels;
    const Tensor x = golden(name + ".encode_input");
    const auto rows = spans(ej.at("tiles_rows_px")), cols = spans(ej.at("tiles_cols_px"));
    for (size_t a = 0; a < rows.size(); ++a)
      for (size_t b = 0; b < cols.size(); ++b) {
        const std::string key = tile_key(name, "encode_tile_moments", a, b);
        SCOPED_TRACE(key);
        const Tensor moments = golden(key);
        ASSERT_EQ(moments.size(1), 2 * L);
        const LatentDistribution d = vae(name).encode(crop(x, rows[a], cols[b]));
        EXPECT_TRUE(test::AllCloseRel(d.mean, moments.narrow(1, 0, L).contiguous(), kTol));
        EXPECT_TRUE(test::AllCloseRel(d.logvar, clamp_logvar(moments.narrow(1, L, L)), kTol));
      }
  }
}

TEST(VaeTilingGolden, StitchingReferenceEncodeTiles) {
  for (const std::string& name : vae_names()) {
    SCOPED_TRACE(name);
    const int64_t f = vae(name).config().downscale_factor();
    const int64_t L = vae(name).config().latent_channels;
    const TileGrid g = case_encode_grid(name);
    const size_t cols = info(name).at("encode").at("tiles_cols_px").size();
    size_t next = 0;
    const Tensor got = run_tiled(golden(name + ".encode_input"), g, [&](const Tensor& in) {
      const size_t i = next++;
      const Tensor tile = golden(tile_key(name, "encode_tile_moments", i / cols, i % cols));
      EXPECT_EQ(in.size(2), tile.size(2) * f) << "tile " << i;
      EXPECT_EQ(in.size(3), tile.size(3) * f) << "tile " << i;
      return tile.clone();
    });
    EXPECT_EQ(next, tensors_named(name + ".encode_tile_moments."));
    ASSERT_EQ(got.size(1), 2 * L);
    EXPECT_TRUE(test::AllCloseRel(got.narrow(1, 0, L).contiguous(),
                                  golden(name + ".tiled_latent_mean"), kStitchTol));
    EXPECT_TRUE(test::AllCloseRel(clamp_logvar(got.narrow(1, L, L)),
                                  golden(name + ".tiled_latent_logvar"), kStitchTol));
  }
}

TEST(VaeTilingGolden, TiledEncode) {
  for (const std::string& name : vae_names()) {
    SCOPED_TRACE(name);
    const Tensor x = golden(name + ".encode_input");
    const LatentDistribution plain = vae(name).encode(x);
    EXPECT_TRUE(test::AllCloseRel(plain.mean, golden(name + ".latent_mean"), kTol));
    EXPECT_TRUE(test::AllCloseRel(plain.std, golden(name + ".latent_std"), kTol));
    const LatentDistribution tiled = vae(name).encode(x, diffusers_tiling(name));
    EXPECT_TRUE(test::AllCloseRel(tiled.mean, golden(name + ".tiled_latent_mean"), kTol));
    EXPECT_TRUE(test::AllCloseRel(tiled.logvar, golden(name + ".tiled_latent_logvar"), kTol));
    EXPECT_TRUE(test::AllCloseRel(tiled.std, golden(name + ".tiled_latent_std"), kTol));
  }
}

}  // namespace
}  // namespace ipa::vae
