// embedding, argmax, nearest upsampling, timestep embedding and interpolate: reference loops
// plus hand-computed values with PyTorch's semantics.
#include <cmath>

#include "ops/ops.h"
#include "ops_test_util.h"
#include "tensor/half.h"

namespace ipa {
namespace {

TEST(OpsEmbedding, LooksUpRowsForAllTableTypes) {
  Tensor table = random_tensor({11, 6}, 1);
  Tensor ids = Tensor::empty({2, 3}, DType::I64);
  const int64_t idv[] = {0, 10, 3, 3, 7, 1};
  std::copy(idv, idv + 6, ids.data<int64_t>());
  Tensor ids32 = ids.to(DType::I32);
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    Tensor t = table.to(dt);
    for (const Tensor& id : {ids, ids32}) {
      Tensor y = ops::embedding(t, id);
      ASSERT_EQ(y.shape(), (Shape{2, 3, 6}));
      for (int64_t i = 0; i < 6; ++i)
        for (int64_t d = 0; d < 6; ++d)
          ASSERT_EQ(y.item_f32({i / 3, i % 3, d}), t.item_f32({idv[i], d})) << dtype_name(dt);
    }
  }
  Tensor bad = Tensor::empty({1}, DType::I64);
  bad.data<int64_t>()[0] = 11;
  EXPECT_THROW(ops::embedding(table, bad), Error);
  bad.data<int64_t>()[0] = -1;
  EXPECT_THROW(ops::embedding(table, bad), Error);
  EXPECT_THROW(ops::embedding(table, random_tensor({2}, 3)), Error);  // float ids
}

TEST(OpsArgmax, FirstMaximumAlongAnyDim) {
  Tensor x = Tensor::from_vector({2, 4}, {1.f, 5.f, 5.f, 0.f, -1.f, -3.f, -1.f, -2.f});
  Tensor a = ops::argmax(x, 1);
  ASSERT_EQ(a.shape(), (Shape{2}));
  EXPECT_EQ(a.data<int64_t>()[0], 1);
  EXPECT_EQ(a.data<int64_t>()[1], 0);
  Tensor r = random_tensor({3, 7, 5}, 2);
  Tensor am = ops::argmax(r, 1);
  ASSERT_EQ(am.shape(), (Shape{3, 5}));
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t k = 0; k < 5; ++k) {
      int64_t best = 0;
      for (int64_t j = 1; j < 7; ++j)
        if (r.item_f32({i, j, k}) > r.item_f32({i, best, k})) best = j;
      EXPECT_EQ(am.data<int64_t>()[i * 5 + k], best);
    }
  EXPECT_EQ(ops::argmax(r, -1).shape(), (Shape{3, 7}));
  EXPECT_THROW(ops::argmax(r, 3), Error);
}

TEST(OpsUpsample, NearestMatchesFloorIndexing) {
  Tensor x = random_tensor({2, 3, 5, 3}, 1);
  for (auto [oh, ow] : {std::pair{10, 6}, {7, 4}, {5, 3}, {3, 2}, {1, 1}}) {
    Tensor y = ops::upsample_nearest(x, oh, ow);
    ASSERT_EQ(y.shape(), (Shape{2, 3, oh, ow}));
    for (int64_t p = 0; p < 6; ++p)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j)
          ASSERT_EQ(y.item_f32({p / 3, p % 3, i, j}),
                    x.item_f32({p / 3, p % 3, i * 5 / oh, j * 3 / ow}))
              << oh << "x" << ow;
  }
}

TEST(OpsTimestepEmbedding, MatchesDiffusersFormula) {
  Tensor t = Tensor::from_vector({3}, {0.f, 1.f, 999.f});
  for (int64_t dim : {320, 7}) {
    for (bool flip : {true, false}) {
      for (float shift : {0.f, 1.f}) {
        const int64_t half = dim / 2;
        std::vector<double> ref(3 * dim, 0.0);
        for (int64_t b = 0; b < 3; ++b)
          for (int64_t i = 0; i < half; ++i) {
            const double arg = t.item_f32({b}) * std::exp(-std::log(10000.0) * i / (half - shift));
            ref[b * dim + i] = flip ? std::cos(arg) : std::sin(arg);
            ref[b * dim + half + i] = flip ? std::sin(arg) : std::cos(arg);
          }
        // The frequencies are float32 in diffusers too; at t = 999 one float ulp of the
        // argument (~6e-5) moves sin/cos by up to that much, hence 2e-4.
        expect_close(ops::timestep_embedding(t, dim, flip, shift), from_doubles({3, dim}, ref),
                     2e-4,
                     "timestep_" + std::to_string(dim) + (flip ? "_flip" : "") + "_shift" +
                         std::to_string(int(shift)));
      }
    }
  }
}

TEST(OpsInterpolate, HandComputedBilinearAndBicubic) {
  Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1.f, 2.f, 3.f, 4.f});
  // f(x, y) = 1 + x + 2y is bilinear, so outputs follow the source coordinates directly.
  auto expect_grid = [&](const Tensor& y, const std::vector<double>& tx,
                         const std::vector<double>& ty, const char* what) {
    std::vector<double> ref;
    for (double yy : ty)
      for (double xx : tx) ref.push_back(1 + xx + 2 * yy);
    expect_close(y, from_doubles({1, 1, 4, 4}, ref), 1e-6, what);
  };
  const std::vector<double> lin = {0, 0.25, 0.75, 1};
  expect_grid(ops::interpolate(x, 4, 4, ops::Interp::Bilinear, false), lin, lin, "bilinear_ac0");
  const std::vector<double> ac = {0, 1.0 / 3, 2.0 / 3, 1};
  expect_grid(ops::interpolate(x, 4, 4, ops::Interp::Bilinear, true), ac, ac, "bilinear_ac1");
  // Keys cubic (A = -0.75) with clamped borders: 1-D fractions worked out by hand; the first
  // row is torch's known [0.68359375, 1.015625, 1.5625, 1.89453125].
  const std::vector<double> cub = {-0.10546875, 0.2265625, 0.7734375, 1.10546875};
  Tensor bc = ops::interpolate(x, 4, 4, ops::Interp::Bicubic, false);
  expect_grid(bc, cub, cub, "bicubic_ac0");
  EXPECT_FLOAT_EQ(bc.item_f32({0, 0, 0, 0}), 0.68359375f);
  EXPECT_FLOAT_EQ(bc.item_f32({0, 0, 0, 3}), 1.89453125f);
  // align_corners=True: the corners are the input corners exactly.
  Tensor bc1 = ops::interpolate(x, 4, 4, ops::Interp::Bicubic, true);
  EXPECT_EQ(bc1.item_f32({0, 0, 0, 0}), 1.f);
  EXPECT_EQ(bc1.item_f32({0, 0, 0, 3}), 2.f);
  EXPECT_EQ(bc1.item_f32({0, 0, 3, 0}), 3.f);
  EXPECT_EQ(bc1.item_f32({0, 0, 3, 3}), 4.f);
  // nearest 2 → 4 duplicates
  Tensor n = ops::interpolate(x, 4, 4, ops::Interp::Nearest);
  EXPECT_EQ(n.item_f32({0, 0, 1, 1}), 1.f);
  EXPECT_EQ(n.item_f32({0, 0, 2, 1}), 3.f);
}

// Independent double-precision reference of torch's resampling for random inputs.
double cubic_w(double d) {
  const double A = -0.75;
  d = std::fabs(d);
  if (d <= 1) return ((A + 2) * d - (A + 3)) * d * d + 1;
  if (d < 2) return ((A * d - 5 * A) * d + 8 * A) * d - 4 * A;
  return 0;
}

Tensor interp_ref(const Tensor& x, int64_t OH, int64_t OW, ops::Interp mode, bool ac) {
  const int64_t P = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  const auto v = doubles(x);
  auto src = [&](int64_t in, int64_t out, int64_t d, bool cubic) {
    double scale = ac ? (out > 1 ? double(in - 1) / (out - 1) : 0.0) : double(in) / out;
    double s = ac ? scale * d : scale * (d + 0.5) - 0.5;
    if (!ac && !cubic && s < 0) s = 0;
    return s;
  };
  std::vector<double> y(P * OH * OW);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t i = 0; i < OH; ++i)
      for (int64_t j = 0; j < OW; ++j) {
        auto at = [&](int64_t r, int64_t c) {
          r = std::clamp<int64_t>(r, 0, H - 1);
          c = std::clamp<int64_t>(c, 0, W - 1);
          return v[(p * H + r) * W + c];
        };
        double out = 0;
        if (mode == ops::Interp::Bilinear) {
          const double sy = src(H, OH, i, false), sx = src(W, OW, j, false);
          const int64_t y0 = int64_t(sy), x0 = int64_t(sx);
          const double ly = sy - y0, lx = sx - x0;
          out = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x0 + 1)) +
                ly * ((1 - lx) * at(y0 + 1, x0) + lx * at(y0 + 1, x0 + 1));
        } else {
          const double sy = src(H, OH, i, true), sx = src(W, OW, j, true);
          const int64_t y0 = int64_t(std::floor(sy)), x0 = int64_t(std::floor(sx));
          for (int a = -1; a <= 2; ++a)
            for (int b = -1; b <= 2; ++b)
              out += cubic_w(sy - (y0 + a)) * cubic_w(sx - (x0 + b)) * at(y0 + a, x0 + b);
        }
        y[(p * OH + i) * OW + j] = out;
      }
  return from_doubles({x.size(0), x.size(1), OH, OW}, y);
}

TEST(OpsInterpolate, RandomInputsMatchReference) {
  Tensor x = random_tensor({2, 3, 7, 10}, 5);
  for (auto [oh, ow] : {std::pair{224, 224}, {5, 13}, {7, 10}, {1, 3}, {16, 3}}) {
    for (bool ac : {false, true}) {
      for (ops::Interp m : {ops::Interp::Bilinear, ops::Interp::Bicubic}) {
        const std::string label = std::string(m == ops::Interp::Bilinear ? "bilinear" : "bicubic") +
                                  "_" + std::to_string(oh) + "x" + std::to_string(ow) +
                                  (ac ? "_ac" : "");
        // float source coordinates (as in torch) vs double here: ~1e-6
        expect_close(ops::interpolate(x, oh, ow, m, ac), interp_ref(x, oh, ow, m, ac), 1e-5, label);
      }
    }
  }
  EXPECT_THROW(ops::interpolate(x, 0, 4, ops::Interp::Bilinear), Error);
  EXPECT_THROW(ops::interpolate(random_tensor({3, 4, 4}, 1), 2, 2, ops::Interp::Bilinear), Error);
}

}  // namespace
}  // namespace ipa
