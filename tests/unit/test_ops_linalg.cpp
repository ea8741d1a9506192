// linear, matmul and conv2d (free functions and the Linear / Conv2d layers) against plain
// double-precision reference loops.
#include <cmath>

#include "ops/layers.h"
#include "ops/ops.h"
#include "ops_test_util.h"

namespace ipa {
namespace {

double act_ref(double x, ops::Activation a) {
  switch (a) {
    case ops::Activation::None:
      return x;
    case ops::Activation::GELU:
      return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case ops::Activation::GELUTanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case ops::Activation::QuickGELU:
      return x / (1 + std::exp(-1.702 * x));
    case ops::Activation::SiLU:
      return x / (1 + std::exp(-x));
  }
  return 0;
}

Tensor linear_ref(const Tensor& x, const Tensor& w, const Tensor& b, ops::Activation act) {
  const int64_t K = w.size(1), N = w.size(0), M = x.numel() / K;
  const auto xv = doubles(x), wv = doubles(w);
  const auto bv = b.defined() ? doubles(b) : std::vector<double>(N, 0.0);
  std::vector<double> y(M * N);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double s = bv[n];
      for (int64_t k = 0; k < K; ++k) s += xv[m * K + k] * wv[n * K + k];
      y[m * N + n] = act_ref(s, act);
    }
  }
  Shape shape = x.shape();
  shape.back() = N;
  return from_doubles(shape, y);
}

TEST(OpsLinear, MatchesReferenceWithBiasAndActivations) {
  const ops::Activation acts[] = {ops::Activation::None, ops::Activation::GELU,
                                  ops::Activation::GELUTanh, ops::Activation::QuickGELU,
                                  ops::Activation::SiLU};
  int seed = 1;
  for (auto [M, K, N] : {std::tuple{1, 1, 1}, {7, 33, 5}, {77, 64, 130}, {3, 320, 17}}) {
    for (auto act : acts) {
      for (bool bias : {false, true}) {
        Tensor x = random_tensor({1, M, K}, seed++, -2.f, 2.f);
        Tensor w = random_tensor({N, K}, seed++);
        Tensor b = bias ? random_tensor({N}, seed++) : Tensor();
        const std::string label = "linear_" + std::to_string(M) + "x" + std::to_string(K) + "x" +
                                  std::to_string(N) + "_act" +
                                  std::to_string(static_cast<int>(act)) + (bias ? "_b" : "");
        // oneDNN's fused GELU/SiLU use their own polynomial approximations (~1e-6).
        expect_close(ops::linear(x, w, b, act), linear_ref(x, w, b, act), 1e-5, label);
      }
    }
  }
}

TEST(OpsLinear, LayerMatchesFreeFunctionAndStridedInput) {
  const ops::Linear l(random_tensor({24, 40}, 3), random_tensor({24}, 4));
  Tensor x = random_tensor({40, 2, 5}, 5).permute({1, 2, 0});  // strided [2, 5, 40]
  Tensor ref = linear_ref(x.contiguous(), l.weight(), l.bias(), ops::Activation::SiLU);
  expect_close(l(x, ops::Activation::SiLU), ref, 1e-5, "linear_layer_strided");
  expect_close(l(x, ops::Activation::SiLU), ref, 1e-5, "linear_layer_second_call");
}

// The layer packs its weights at construction; the free function reorders the plain ones per
// call into the same layout, so both run the same primitive: identical bits, for row counts
// other than the packing probe's too. The layer holds one copy, and gives the weights back
// exactly.
TEST(OpsLinear, PackedLayerIsBitIdenticalToTheFreeFunction) {
  const Tensor w = random_tensor({70, 48}, 6), b = random_tensor({70}, 7);
  const ops::Linear layer(w.clone(), b);
  EXPECT_EQ(layer.weight().to_floats(), w.to_floats());
  EXPECT_GE(layer.weight_bytes(), w.nbytes());
  EXPECT_LT(layer.weight_bytes(), w.nbytes() * 3);  // one packed copy (+ block padding)
  for (int64_t rows : {1, 9, 300}) {
    const Tensor x = random_tensor({rows, 48}, 8 + static_cast<uint64_t>(rows));
    EXPECT_EQ(layer(x, ops::Activation::GELU).to_floats(),
              ops::linear(x, w, b, ops::Activation::GELU).to_floats())
        << rows << " rows";
  }
}

TEST(OpsLinear, RejectsBadShapes) {
  EXPECT_THROW(ops::linear(random_tensor({2, 5}, 1), random_tensor({3, 4}, 2)), Error);
  EXPECT_THROW(
      ops::linear(random_tensor({2, 4}, 1), random_tensor({3, 4}, 2), random_tensor({4}, 3)),
      Error);
  EXPECT_THROW(ops::linear(random_tensor({2, 4}, 1), random_tensor({12}, 2)), Error);
  try {
    ops::linear(random_tensor({2, 5}, 1), random_tensor({3, 4}, 2));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 5]"), std::string::npos) << e.what();
  }
}

Tensor matmul_ref(const Tensor& a, const Tensor& b, bool trans_b, double alpha) {
  const int64_t rank = std::max(a.dim(), b.dim());
  Shape as(rank - a.dim(), 1), bs(rank - b.dim(), 1);
  as.insert(as.end(), a.shape().begin(), a.shape().end());
  bs.insert(bs.end(), b.shape().begin(), b.shape().end());
  const int64_t M = as[rank - 2], K = as[rank - 1], N = trans_b ? bs[rank - 2] : bs[rank - 1];
  Shape out(rank);
  int64_t batch = 1;
  for (int64_t d = 0; d < rank - 2; ++d) batch *= (out[d] = std::max(as[d], bs[d]));
  out[rank - 2] = M;
  out[rank - 1] = N;
  const auto av = doubles(a), bv = doubles(b);
  std::vector<double> y(batch * M * N);
  for (int64_t bi = 0; bi < batch; ++bi) {
    // batch index → offsets in a and b with broadcasting
    int64_t rem = bi, oa = 0, ob = 0, sa = M * K, sb = K * N;
    for (int64_t d = rank - 3; d >= 0; --d) {
      const int64_t i = rem % out[d];
      rem /= out[d];
      oa += (as[d] == 1 ? 0 : i) * sa;
      ob += (bs[d] == 1 ? 0 : i) * sb;
      sa *= as[d];
      sb *= bs[d];
    }
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) {
          s += av[oa + m * K + k] * bv[ob + (trans_b ? n * K + k : k * N + n)];
        }
        y[(bi * M + m) * N + n] = alpha * s;
      }
    }
  }
  return from_doubles(out, y);
}

TEST(OpsMatmul, BatchedBroadcastTransposedScaled) {
  struct Case {
    Shape a, b;
    bool trans_b;
    float alpha;
  };
  const Case cases[] = {{{5, 7}, {7, 3}, false, 1.f},
                        {{2, 3, 9, 17}, {2, 3, 17, 4}, false, 0.5f},
                        {{2, 1, 9, 17}, {1, 3, 4, 17}, true, 0.125f},
                        {{4, 1, 33}, {33, 1}, false, 2.f},
                        {{3, 77, 40}, {3, 64, 40}, true, 1.f},
                        {{1, 1}, {1, 1}, true, 1.f}};
  int seed = 100;
  for (const Case& c : cases) {
    Tensor a = random_tensor(c.a, seed++), b = random_tensor(c.b, seed++);
    const std::string label =
        "matmul_" + shape_str(c.a) + "x" + shape_str(c.b) + (c.trans_b ? "T" : "");
    expect_close(ops::matmul(a, b, c.trans_b, c.alpha), matmul_ref(a, b, c.trans_b, c.alpha), 1e-5,
                 label);
  }
}

TEST(OpsMatmul, RejectsBadShapes) {
  EXPECT_THROW(ops::matmul(random_tensor({2, 3}, 1), random_tensor({4, 5}, 2)), Error);
  EXPECT_THROW(ops::matmul(random_tensor({2, 2, 3}, 1), random_tensor({3, 3, 5}, 2)), Error);
  EXPECT_THROW(ops::matmul(random_tensor({3}, 1), random_tensor({3, 5}, 2)), Error);
}

Tensor conv_ref(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dParams& p) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(0), Cg = w.size(1), KH = w.size(2), KW = w.size(3);
  const int64_t G = p.groups, Og = O / G;
  const int64_t OH = (H + p.pad_top + p.pad_bottom - (KH - 1) * p.dilation_h - 1) / p.stride_h + 1;
  const int64_t OW = (W + p.pad_left + p.pad_right - (KW - 1) * p.dilation_w - 1) / p.stride_w + 1;
  const auto xv = doubles(x), wv = doubles(w);
  std::vector<double> y(N * O * OH * OW);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double s = b.defined() ? b.item_f32({o}) : 0.0;
          const int64_t g = o / Og;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t ky = 0; ky < KH; ++ky)
              for (int64_t kx = 0; kx < KW; ++kx) {
                const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dilation_h;
                const int64_t ix = ox * p.stride_w - p.pad_left + kx * p.dilation_w;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                s += xv[((n * C + g * Cg + c) * H + iy) * W + ix] *
                     wv[((o * Cg + c) * KH + ky) * KW + kx];
              }
          y[((n * O + o) * OH + oy) * OW + ox] = s;
        }
  return from_doubles({N, O, OH, OW}, y);
}

TEST(OpsConv2d, MatchesReferenceAcrossConfigurations) {
  struct Case {
    const char* name;
    Shape x, w;
    ops::Conv2dParams p;
    bool bias;
  };
  ops::Conv2dParams asym;  // diffusers' Downsample2D with padding=0: pad (0,1,0,1), stride 2
  asym.stride_h = asym.stride_w = 2;
  asym.pad_bottom = asym.pad_right = 1;
  ops::Conv2dParams grouped = ops::Conv2dParams::same(1, 1);
  grouped.groups = 4;
  ops::Conv2dParams dilated = ops::Conv2dParams::same(1, 2);
  dilated.dilation_h = dilated.dilation_w = 2;
  ops::Conv2dParams odd;
  odd.stride_h = 2;
  odd.stride_w = 3;
  odd.pad_top = 1;
  odd.pad_left = 2;
  const Case cases[] = {
      {"3x3_pad1", {2, 8, 9, 7}, {16, 8, 3, 3}, ops::Conv2dParams::same(1, 1), true},
      {"1x1", {1, 13, 5, 6}, {7, 13, 1, 1}, ops::Conv2dParams::same(1, 0), true},
      {"14x14_stride14", {1, 3, 28, 42}, {8, 3, 14, 14}, ops::Conv2dParams::same(14, 0), false},
      {"asym_stride2", {1, 6, 11, 8}, {6, 6, 3, 3}, asym, true},
      {"groups4", {2, 8, 6, 5}, {12, 2, 3, 3}, grouped, true},
      {"dilation2", {1, 4, 9, 9}, {5, 4, 3, 3}, dilated, false},
      {"odd_strides", {1, 3, 10, 13}, {4, 3, 3, 2}, odd, true},
      {"single_pixel", {1, 5, 1, 1}, {3, 5, 1, 1}, ops::Conv2dParams::same(1, 0), true},
  };
  int seed = 200;
  for (const Case& c : cases) {
    Tensor x = random_tensor(c.x, seed++), w = random_tensor(c.w, seed++);
    Tensor b = c.bias ? random_tensor({c.w[0]}, seed++) : Tensor();
    Tensor ref = conv_ref(x, w, b, c.p);
    expect_close(ops::conv2d(x, w, b, c.p), ref, 1e-5, std::string("conv_") + c.name);
    const ops::Conv2d layer(w, b, c.p);
    expect_close(layer(x), ref, 1e-5, std::string("conv_layer_") + c.name);
    expect_close(layer(x), ref, 1e-5, std::string("conv_layer_cached_") + c.name);
  }
}

TEST(OpsConv2d, LayerHandlesSeveralInputShapes) {
  const Tensor w = random_tensor({4, 3, 3, 3}, 1), b = random_tensor({4}, 2);
  const auto p = ops::Conv2dParams::same(1, 1);
  const ops::Conv2d layer(w.clone(), b, p);
  for (int64_t s : {5, 8, 5}) {
    Tensor x = random_tensor({1, 3, s, s + 1}, 10 + s);
    expect_close(layer(x), conv_ref(x, w, b, p), 1e-5, "conv_layer_shape" + std::to_string(s));
  }
}

// The plain weights are released once packed: later shapes repack from the packed copy, and
// the layer then holds one copy (the packed one) rather than two.
TEST(OpsConv2d, LayerKeepsOneCopyOfItsWeights) {
  const Tensor w = random_tensor({16, 8, 3, 3}, 3), b = random_tensor({16}, 4);
  const auto p = ops::Conv2dParams::same(1, 1);
  const ops::Conv2d layer(w.clone(), b, p);
  EXPECT_EQ(layer.weight_bytes(), static_cast<size_t>(w.nbytes()));
  const Tensor x = random_tensor({1, 8, 12, 12}, 5);
  expect_close(layer(x), conv_ref(x, w, b, p), 1e-5, "first");
  // Packed layouts pad channels to the vector width at most: well under twice the plain size.
  EXPECT_LT(layer.weight_bytes(), static_cast<size_t>(2 * w.nbytes()));
  EXPECT_GE(layer.weight_bytes(), static_cast<size_t>(w.nbytes()));
  const Tensor x2 = random_tensor({2, 8, 7, 9}, 6);
  expect_close(layer(x2), conv_ref(x2, w, b, p), 1e-5, "second shape");
  // A second layout (if oneDNN picked one) adds a packed copy, never the plain weights again.
  EXPECT_LT(layer.weight_bytes(), static_cast<size_t>(3 * w.nbytes()));
  const ops::Conv2d copy = layer;  // copies share weights and plans
  expect_close(copy(x), conv_ref(x, w, b, p), 1e-5, "copy");
}

// prepare() (packing at load) must compute exactly what the lazy first call computes, release
// the plain weights, and leave other input shapes working.
TEST(OpsConv2d, PreparedLayerIsBitIdenticalToTheLazyPath) {
  const Tensor w = random_tensor({32, 16, 3, 3}, 7), b = random_tensor({32}, 8);
  const auto p = ops::Conv2dParams::same(1, 1);
  const ops::Conv2d lazy(w.clone(), b, p), prepared(w.clone(), b, p);
  const Shape nominal{2, 16, 12, 10};
  EXPECT_TRUE(prepared.holds_plain_weights());
  EXPECT_FALSE(prepared.prepared_for(nominal));
  EXPECT_EQ(prepared.prepare(nominal), (Shape{2, 32, 12, 10}));
  EXPECT_TRUE(prepared.prepared_for(nominal));
  EXPECT_FALSE(prepared.holds_plain_weights());  // packed: the plain copy went
  EXPECT_LT(prepared.weight_bytes(), static_cast<size_t>(2 * w.nbytes()));
  const Tensor x = random_tensor(nominal, 9);
  const Tensor y_lazy = lazy(x), y_prepared = prepared(x);
  EXPECT_EQ(y_prepared.to_floats(), y_lazy.to_floats());  // bit-identical
  expect_close(y_prepared, conv_ref(x, w, b, p), 1e-5, "prepared");
  // Another shape (a different batch and size): planned on first use from the packed copy.
  const Tensor x2 = random_tensor({1, 16, 5, 7}, 10);
  EXPECT_FALSE(prepared.prepared_for(x2.shape()));
  expect_close(prepared(x2), conv_ref(x2, w, b, p), 1e-5, "other shape");
  EXPECT_EQ(prepared(x2).to_floats(), lazy(x2).to_floats());
  // Preparing again is a no-op; a bad shape is refused as a call would be.
  prepared.prepare(nominal);
  EXPECT_THROW(prepared.prepare({2, 15, 12, 10}), Error);
  EXPECT_THROW(prepared.prepare({16, 12, 10}), Error);
  EXPECT_THROW(ops::Conv2d().prepare(nominal), Error);
}

TEST(OpsConv2d, PreparedStridedAndBf16LayersMatchTheLazyPath) {
  ops::Conv2dParams down;  // diffusers' Downsample2D: pad (0,1,0,1), stride 2
  down.stride_h = down.stride_w = 2;
  down.pad_bottom = down.pad_right = 1;
  const Tensor w = random_tensor({16, 16, 3, 3}, 11), b = random_tensor({16}, 12);
  const Tensor x = random_tensor({2, 16, 9, 8}, 13);
  std::vector<Tensor> weights = {w};
  if (ops::cpu_has_bf16()) weights.push_back(w.to(DType::BF16));
  for (const Tensor& wt : weights) {
    const ops::Conv2d lazy(wt.clone(), b, down), prepared(wt.clone(), b, down);
    EXPECT_EQ(prepared.prepare(x.shape()), (Shape{2, 16, 4, 4}));  // (9 + 1 − 3) / 2 + 1
    EXPECT_FALSE(prepared.holds_plain_weights());
    EXPECT_EQ(prepared(x).to_floats(), lazy(x).to_floats()) << dtype_name(wt.dtype());
  }
}

TEST(OpsConv2d, UndefinedLayerAndBadWeightsAreErrors) {
  const ops::Conv2d absent;
  EXPECT_FALSE(absent.defined());
  EXPECT_THROW(absent(random_tensor({1, 3, 4, 4}, 1)), Error);
  EXPECT_THROW(ops::Conv2d(random_tensor({4, 3, 3}, 1), {}, {}), Error);
  const ops::Conv2d layer(random_tensor({4, 3, 3, 3}, 1), {}, ops::Conv2dParams::same(1, 1));
  EXPECT_THROW(layer(random_tensor({1, 5, 4, 4}, 2)), Error);  // 5 channels, weight wants 3
}

TEST(OpsConv2d, RejectsBadShapes) {
  const auto p = ops::Conv2dParams::same(1, 1);
  EXPECT_THROW(ops::conv2d(random_tensor({1, 4, 5, 5}, 1), random_tensor({2, 3, 3, 3}, 2), {}, p),
               Error);
  EXPECT_THROW(ops::conv2d(random_tensor({4, 5, 5}, 1), random_tensor({2, 4, 3, 3}, 2), {}, p),
               Error);
  EXPECT_THROW(ops::conv2d(random_tensor({1, 4, 5, 5}, 1), random_tensor({2, 4, 3, 3}, 2),
                           random_tensor({3}, 3), p),
               Error);
  EXPECT_THROW(ops::conv2d(random_tensor({1, 4, 2, 2}, 1), random_tensor({2, 4, 7, 7}, 2), {},
                           ops::Conv2dParams::same(1, 0)),
               Error);
}

// BF16 compute (BF16 weights select it): linear and conv2d, free functions and layers (whose
// packed bf16 weights are cached), against the double references on the F32 weights within
// 2e-2 · max|ref|: both factors of every product are rounded to bf16 (8 significant bits,
// ~4e-3 relative each) and summed in F32. Runs only where the CPU has bf16 compute.
TEST(OpsBf16, LinearAndConvMatchReferenceWithinBf16Rounding) {
  if (!ops::cpu_has_bf16()) GTEST_SKIP() << "no bf16 compute on this CPU";
  constexpr double kTol = 2e-2;
  const Tensor x = random_tensor({3, 37, 96}, 70), w = random_tensor({130, 96}, 71);
  const Tensor b = random_tensor({130}, 72), wb = w.to(DType::BF16);
  for (auto act : {ops::Activation::None, ops::Activation::GELU}) {
    const Tensor ref = linear_ref(x, w, b, act);
    expect_close(ops::linear(x, wb, b, act), ref, kTol, "linear_bf16");
    const ops::Linear layer(wb, b);
    expect_close(layer(x, act), ref, kTol, "linear_layer_bf16");
    expect_close(layer(x, act), ref, kTol, "linear_layer_bf16_cached");
    // Packed: the plain bf16 weights are gone, and what the layer gives back is them exactly.
    EXPECT_EQ(layer.weight().to_floats(), wb.to_floats());
    EXPECT_LT(layer.weight_bytes(), wb.nbytes() * 3 / 2);  // one packed copy (+ padding)
  }
  const Tensor cx = random_tensor({2, 24, 11, 13}, 73), cw = random_tensor({40, 24, 3, 3}, 74);
  const Tensor cb = random_tensor({40}, 75), cwb = cw.to(DType::BF16);
  const auto p = ops::Conv2dParams::same(1, 1);
  const Tensor cref = conv_ref(cx, cw, cb, p);
  expect_close(ops::conv2d(cx, cwb, cb, p), cref, kTol, "conv_bf16");
  const ops::Conv2d layer(cwb.clone(), cb, p);
  expect_close(layer(cx), cref, kTol, "conv_layer_bf16");
  expect_close(layer(cx), cref, kTol, "conv_layer_bf16_cached");
  // The same layers with F32 weights stay F32: exact, not bf16-rounded.
  const ops::Linear f32_layer(w, b);
  expect_close(f32_layer(x), linear_ref(x, w, b, ops::Activation::None), 1e-5, "linear_f32");
  const ops::Conv2d f32_conv(cw.clone(), cb, p);
  expect_close(f32_conv(cx), cref, 1e-5, "conv_layer_f32");
}

// bf16 compute is the bf16-rounded weights' F32 result up to bf16 rounding of the inputs:
// against the F32 op on the widened weights the error is that of the inputs alone.
TEST(OpsBf16Weights, MatchTheF32OpOnTheWidenedWeights) {
  if (!ops::cpu_has_bf16()) GTEST_SKIP() << "no bf16 compute on this CPU";
  const Tensor x = random_tensor({5, 24}, 80), w = random_tensor({7, 24}, 81).to(DType::BF16);
  const Tensor b = random_tensor({7}, 82), wf = w.to(DType::F32);
  const Tensor xr = x.to(DType::BF16).to(DType::F32);  // what the bf16 matmul reads
  expect_close(ops::linear(x, w, b), linear_ref(xr, wf, b, ops::Activation::None), 1e-5,
               "linear_bf16_weights");
  const Tensor cx = random_tensor({1, 6, 9, 8}, 83), cw = random_tensor({5, 6, 3, 3}, 84);
  const auto p = ops::Conv2dParams::same(1, 1);
  const ops::Conv2d conv(cw.to(DType::BF16), b.narrow(0, 0, 5).contiguous(), p);
  expect_close(conv(cx),
               conv_ref(cx.to(DType::BF16).to(DType::F32), cw.to(DType::BF16).to(DType::F32),
                        b.narrow(0, 0, 5), p),
               1e-5, "conv_layer_bf16_weights");
}

}  // namespace
}  // namespace ipa
