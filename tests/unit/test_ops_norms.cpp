// group_norm, layer_norm and softmax against double-precision reference loops.
#include <cmath>

#include "ops/layers.h"
#include "ops/ops.h"
#include "ops_test_util.h"

namespace ipa {
namespace {

Tensor group_norm_ref(const Tensor& x, int G, const Tensor& g, const Tensor& b, double eps,
                      bool silu) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C), cpg = C / G;
  const auto xv = doubles(x);
  std::vector<double> y(xv.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t gi = 0; gi < G; ++gi) {
      const int64_t base = (n * C + gi * cpg) * S, cnt = cpg * S;
      double mean = 0, var = 0;
      for (int64_t i = 0; i < cnt; ++i) mean += xv[base + i];
      mean /= cnt;
      for (int64_t i = 0; i < cnt; ++i) var += (xv[base + i] - mean) * (xv[base + i] - mean);
      var /= cnt;
      for (int64_t i = 0; i < cnt; ++i) {
        const int64_t c = gi * cpg + i / S;
        double v = (xv[base + i] - mean) / std::sqrt(var + eps) * g.item_f32({c}) + b.item_f32({c});
        if (silu) v = v / (1 + std::exp(-v));
        y[base + i] = v;
      }
    }
  return from_doubles(x.shape(), y);
}

TEST(OpsGroupNorm, MatchesReferenceWithAndWithoutSiLU) {
  struct Case {
    Shape x;
    int groups;
  };
  const Case cases[] = {
      {{2, 32, 9, 7}, 32}, {{1, 6, 5}, 3}, {{3, 4, 1, 1}, 1}, {{2, 64, 17, 3}, 32}};
  int seed = 300;
  for (const Case& c : cases) {
    for (bool silu : {false, true}) {
      // Offset mean: statistics must stay accurate when |mean| >> std.
      Tensor x = random_tensor(c.x, seed++, 90.f, 110.f);
      Tensor g = random_tensor({c.x[1]}, seed++, 0.5f, 1.5f), b = random_tensor({c.x[1]}, seed++);
      const std::string label = "group_norm_" + shape_str(c.x) + (silu ? "_silu" : "");
      ops::GroupNorm gn{c.groups, 1e-5f, g, b};
      const Tensor ref = group_norm_ref(x, c.groups, g, b, 1e-5, silu);
      for_each_isa(
          [&](const std::string& isa) { expect_close(gn(x, silu), ref, 1e-5, label + isa); });
    }
  }
}

TEST(OpsGroupNorm, RejectsBadShapes) {
  EXPECT_THROW(ops::group_norm(random_tensor({2, 6, 4}, 1), 4, random_tensor({6}, 2),
                               random_tensor({6}, 3), 1e-5f),
               Error);
  EXPECT_THROW(ops::group_norm(random_tensor({2, 6, 4}, 1), 3, random_tensor({5}, 2),
                               random_tensor({6}, 3), 1e-5f),
               Error);
}

Tensor layer_norm_ref(const Tensor& x, const Tensor& g, const Tensor& b, double eps) {
  const int64_t D = x.size(-1), rows = x.numel() / D;
  const auto xv = doubles(x);
  std::vector<double> y(xv.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < D; ++i) mean += xv[r * D + i];
    mean /= D;
    for (int64_t i = 0; i < D; ++i) var += (xv[r * D + i] - mean) * (xv[r * D + i] - mean);
    var /= D;
    for (int64_t i = 0; i < D; ++i) {
      const double gi = g.defined() ? g.item_f32({i}) : 1.0;
      const double bi = b.defined() ? b.item_f32({i}) : 0.0;
      y[r * D + i] = (xv[r * D + i] - mean) / std::sqrt(var + eps) * gi + bi;
    }
  }
  return from_doubles(x.shape(), y);
}

TEST(OpsLayerNorm, MatchesReference) {
  int seed = 400;
  for (const Shape& s : {Shape{2, 77, 768}, Shape{5, 13}, Shape{1}, Shape{3, 1, 1025}}) {
    Tensor x = random_tensor(s, seed++, -50.f, 150.f);
    Tensor g = random_tensor({s.back()}, seed++), b = random_tensor({s.back()}, seed++);
    ops::LayerNorm ln{1e-5f, g, b};
    const Tensor ref = layer_norm_ref(x, g, b, 1e-5), ref_plain = layer_norm_ref(x, {}, {}, 1e-6);
    for_each_isa([&](const std::string& isa) {
      expect_close(ln(x), ref, 1e-5, "layer_norm_" + shape_str(s) + isa);
      expect_close(ops::layer_norm(x, {}, {}, 1e-6f), ref_plain, 1e-5,
                   "layer_norm_noaffine_" + shape_str(s) + isa);
    });
  }
  EXPECT_THROW(ops::layer_norm(random_tensor({2, 4}, 1), random_tensor({3}, 2), {}, 1e-5f), Error);
}

Tensor softmax_ref(const Tensor& x) {
  const int64_t D = x.size(-1), rows = x.numel() / D;
  const auto xv = doubles(x);
  std::vector<double> y(xv.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < D; ++i) m = std::max(m, xv[r * D + i]);
    for (int64_t i = 0; i < D; ++i) s += std::exp(xv[r * D + i] - m);
    for (int64_t i = 0; i < D; ++i) y[r * D + i] = std::exp(xv[r * D + i] - m) / s;
  }
  return from_doubles(x.shape(), y);
}

TEST(OpsSoftmax, MatchesReference) {
  int seed = 500;
  for (const Shape& s : {Shape{4, 77}, Shape{1, 1}, Shape{2, 3, 1000}, Shape{17}}) {
    Tensor x = random_tensor(s, seed++, -30.f, 30.f);
    const Tensor ref = softmax_ref(x);
    for_each_isa([&](const std::string& isa) {
      expect_close(ops::softmax(x), ref, 1e-5, "softmax_" + shape_str(s) + isa);
    });
  }
  // -inf entries (masked) get exactly zero probability
  Tensor x = Tensor::from_vector({1, 3}, {0.f, -INFINITY, 1.f});
  Tensor y = ops::softmax(x);
  EXPECT_EQ(y.item_f32({0, 1}), 0.f);
  EXPECT_NEAR(y.item_f32({0, 2}), 1.0 / (1.0 + std::exp(-1.0)), 1e-7);
}

}  // namespace
}  // namespace ipa
