// Activations, broadcasting elementwise ops and shape copies against reference loops.
#include <cmath>

#include "ops/ops.h"
#include "ops_test_util.h"

namespace ipa {
namespace {

template <typename F>
Tensor map_ref(const Tensor& x, F f) {
  auto v = doubles(x);
  for (double& e : v) e = f(e);
  return from_doubles(x.shape(), v);
}

// erfc form: 1 + erf(x) cancels catastrophically in double too for x < -5.
double gelu_ref(double x) {
  return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
}

TEST(OpsActivations, MatchReference) {
  // Every kernel variant the CPU runs.
  for_each_isa([](const std::string& isa) {
    // Wide range so the exp under/overflow paths and the erf tails are exercised; odd size.
    Tensor x = random_tensor({3, 4097}, 1, -30.f, 30.f);
    Tensor small = random_tensor({1001}, 2, -3.f, 3.f);
    for (const Tensor& t : {x, small}) {
      const std::string n = std::to_string(t.numel());
      expect_close(ops::gelu(t), map_ref(t, gelu_ref), 1e-6, "gelu_" + n + isa);
      expect_close(
          ops::gelu_tanh(t),
          map_ref(t,
                  [](double v) {
                    return 0.5 * v *
                           (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
                  }),
          1e-6, "gelu_tanh_" + n + isa);
      expect_close(ops::quick_gelu(t),
                   map_ref(t, [](double v) { return v / (1 + std::exp(-1.702 * v)); }), 1e-6,
                   "quick_gelu_" + n + isa);
      expect_close(ops::silu(t), map_ref(t, [](double v) { return v / (1 + std::exp(-v)); }), 1e-6,
                   "silu_" + n + isa);
      expect_close(ops::activation(t, ops::Activation::SiLU), ops::silu(t), 0,
                   "activation_silu" + isa);
    }
    // Elementwise relative accuracy of the exp-based ones where values are tiny (x → -∞ tail).
    Tensor neg = Tensor::from_vector({4}, {-10.f, -20.f, -50.f, -80.f});
    const auto s = ops::silu(neg).to_floats();
    for (int i = 0; i < 4; ++i) {
      const double x0 = neg.item_f32({i}), r = x0 / (1 + std::exp(-x0));
      EXPECT_NEAR(s[i] / r, 1.0, 1e-6) << x0;
    }
    const auto g = ops::gelu(Tensor::from_vector({2}, {-5.f, -8.f})).to_floats();
    EXPECT_NEAR(g[0] / gelu_ref(-5.0), 1.0, 1e-5);
    EXPECT_NEAR(g[1] / gelu_ref(-8.0), 1.0, 1e-5);
  });
}

TEST(OpsActivations, Geglu) {
  Tensor x = random_tensor({2, 5, 2 * 37}, 3, -4.f, 4.f);
  const auto v = doubles(x);
  std::vector<double> y(2 * 5 * 37);
  for (int64_t r = 0; r < 10; ++r)
    for (int64_t i = 0; i < 37; ++i) y[r * 37 + i] = v[r * 74 + i] * gelu_ref(v[r * 74 + 37 + i]);
  for_each_isa([&](const std::string& isa) {
    expect_close(ops::geglu(x), from_doubles({2, 5, 37}, y), 1e-6, "geglu" + isa);
  });
  EXPECT_THROW(ops::geglu(random_tensor({2, 5}, 4)), Error);
}

// Reference broadcasting binary op via explicit index arithmetic.
template <typename F>
Tensor broadcast_ref(const Tensor& a, const Tensor& b, F f) {
  const int64_t rank = std::max(a.dim(), b.dim());
  Shape as(rank - a.dim(), 1), bs(rank - b.dim(), 1), out(rank);
  as.insert(as.end(), a.shape().begin(), a.shape().end());
  bs.insert(bs.end(), b.shape().begin(), b.shape().end());
  for (int64_t d = 0; d < rank; ++d) out[d] = std::max(as[d], bs[d]);
  const auto av = doubles(a), bv = doubles(b);
  std::vector<double> y(numel_of(out));
  for (int64_t i = 0; i < numel_of(out); ++i) {
    int64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
    for (int64_t d = rank - 1; d >= 0; --d) {
      const int64_t idx = rem % out[d];
      rem /= out[d];
      ia += (as[d] == 1 ? 0 : idx) * sa;
      ib += (bs[d] == 1 ? 0 : idx) * sb;
      sa *= as[d];
      sb *= bs[d];
    }
    y[i] = f(av[ia], bv[ib]);
  }
  return from_doubles(out, y);
}

TEST(OpsElementwise, BroadcastingBinaryOps) {
  const std::pair<Shape, Shape> cases[] = {
      {{2, 3, 5}, {2, 3, 5}},          {{2, 3, 5}, {5}}, {{2, 3, 5}, {3, 1}},
      {{1, 3, 1}, {4, 1, 7}},          {{6, 1}, {1, 1}}, {{1}, {2, 17}},
      {{2, 320, 9, 9}, {2, 320, 1, 1}}};
  int seed = 1000;
  for (const auto& [sa, sb] : cases) {
    Tensor a = random_tensor(sa, seed++), b = random_tensor(sb, seed++, 0.5f, 2.f);
    const std::string n = shape_str(sa) + shape_str(sb);
    expect_close(ops::add(a, b), broadcast_ref(a, b, std::plus<double>()), 1e-7, "add_" + n);
    expect_close(ops::sub(b, a), broadcast_ref(b, a, std::minus<double>()), 1e-7, "sub_" + n);
    expect_close(ops::mul(a, b), broadcast_ref(a, b, std::multiplies<double>()), 1e-7, "mul_" + n);
    expect_close(ops::div(a, b), broadcast_ref(a, b, std::divides<double>()), 1e-7, "div_" + n);
  }
  EXPECT_THROW(ops::add(random_tensor({2, 3}, 1), random_tensor({4}, 2)), Error);
}

TEST(OpsElementwise, ScaleAddScaledAndInPlaceAdd) {
  Tensor a = random_tensor({3, 77, 5}, 1), b = random_tensor({3, 77, 5}, 2);
  expect_close(ops::scale(a, 0.3f), map_ref(a, [](double v) { return double(0.3f) * v; }), 1e-7,
               "scale");
  expect_close(ops::add_scaled(a, b, 0.6f),
               broadcast_ref(a, b, [](double x, double y) { return x + double(0.6f) * y; }), 1e-7,
               "add_scaled");
  EXPECT_THROW(ops::add_scaled(a, random_tensor({3, 77, 4}, 3), 1.f), Error);
  Tensor acc = a.clone();
  Tensor bias = random_tensor({5}, 4);
  ops::add_(acc, bias);
  expect_close(acc, broadcast_ref(a, bias, std::plus<double>()), 1e-7, "add_inplace_broadcast");
  Tensor big = random_tensor({3, 77, 5}, 5);
  EXPECT_THROW(ops::add_(bias, big), Error);  // would change a's shape
}

TEST(OpsShape, ConcatSlicePermute) {
  Tensor a = random_tensor({2, 3, 4}, 1), b = random_tensor({2, 5, 4}, 2);
  Tensor c = ops::concat({a, b}, 1);
  ASSERT_EQ(c.shape(), (Shape{2, 8, 4}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 8; ++j)
      for (int64_t k = 0; k < 4; ++k)
        ASSERT_EQ(c.item_f32({i, j, k}), j < 3 ? a.item_f32({i, j, k}) : b.item_f32({i, j - 3, k}));
  Tensor last = ops::concat({a, a.narrow(2, 1, 2)}, -1);  // strided input
  ASSERT_EQ(last.shape(), (Shape{2, 3, 6}));
  EXPECT_EQ(last.item_f32({1, 2, 5}), a.item_f32({1, 2, 2}));
  EXPECT_THROW(ops::concat({a, b}, 0), Error);

  Tensor s = ops::slice(b, 1, 1, 4);
  ASSERT_EQ(s.shape(), (Shape{2, 3, 4}));
  EXPECT_TRUE(s.is_contiguous());
  EXPECT_EQ(s.item_f32({1, 2, 3}), b.item_f32({1, 3, 3}));
  EXPECT_EQ(ops::slice(b, -1, -2, 4).item_f32({0, 0, 1}), b.item_f32({0, 0, 3}));
  EXPECT_THROW(ops::slice(b, 1, 3, 7), Error);

  Tensor p = ops::permute(a, {2, 0, 1});
  ASSERT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_TRUE(p.is_contiguous());
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k) ASSERT_EQ(p.item_f32({k, i, j}), a.item_f32({i, j, k}));
  EXPECT_THROW(ops::permute(a, {0, 1}), Error);
}

}  // namespace
}  // namespace ipa
