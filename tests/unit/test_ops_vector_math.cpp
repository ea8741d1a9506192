// The vector exp / erf / erfc used by the CPU kernels (ops/cpu/vec_math.h; the 8-lane build
// here, the formulas are lane-wise and the same at every width), against the C library in double on
// dense sweeps. Errors are relative per element (the strictest measure), and the worst one is
// printed and recorded.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "ops/cpu/vec_math.h"
#include "ops/ops.h"

namespace ipa {
namespace {

using V8 = ops::cpu::Avx2Vec;
using v8f = V8::V;

// Max relative error of f8 against ref over [lo, hi] in `step`s, skipping references whose
// magnitude is below `floor` (float underflow territory).
template <typename F8, typename Ref>
double max_rel_sweep(F8 f8, Ref ref, double lo, double hi, double step, double floor,
                     const char* label) {
  double worst = 0, worst_x = 0;
  std::vector<float> xs;
  for (double x = lo; x <= hi; x += step) xs.push_back(static_cast<float>(x));
  while (xs.size() % 8) xs.push_back(static_cast<float>(hi));
  for (size_t i = 0; i < xs.size(); i += 8) {
    const v8f y = f8(V8::load(&xs[i]));
    for (int j = 0; j < 8; ++j) {
      const double r = ref(static_cast<double>(xs[i + j]));
      if (std::fabs(r) < floor) continue;
      const double e = std::fabs(y[j] - r) / std::fabs(r);
      if (e > worst) worst = e, worst_x = xs[i + j];
    }
  }
  std::printf("  [err] %-12s max rel %.3g at x = %.6g\n", label, worst, worst_x);
  ::testing::Test::RecordProperty(std::string(label) + "_max_rel", std::to_string(worst));
  return worst;
}

v8f splat(float f) {
  return V8::splat(f);
}

TEST(OpsVectorMath, ExpMatchesLibm) {
  auto ref = [](double x) { return std::exp(x); };
  EXPECT_LT(max_rel_sweep(ops::cpu::vexp<V8>, ref, -87.0, 88.5, 1e-3, 0, "exp8"), 3e-7);
  const auto f = ops::cpu::vexp<V8>;
  EXPECT_EQ(f(splat(-100.f))[0], 0.f);
  EXPECT_EQ(f(splat(-std::numeric_limits<float>::infinity()))[0], 0.f);
  EXPECT_EQ(f(splat(0.f))[0], 1.f);
  EXPECT_TRUE(std::isnan(f(splat(std::nanf("")))[0]));
  EXPECT_TRUE(std::isinf(ops::cpu::vexp<V8>(splat(100.f))[0]));
}

TEST(OpsVectorMath, Exp2NonPositiveMatchesLibm) {
  // The softmax's 2^y for y = s - max <= 0 (attention kernel): 1.7e-7 relative where the result
  // is a normal float, exactly 0 below -126 and for -inf, exactly 1 at 0, NaN stays NaN.
  auto ref = [](double y) { return std::exp2(y); };
  EXPECT_LT(max_rel_sweep(ops::cpu::vexp2_nonpos<V8>, ref, -126.0, 0.0, 1e-4, 0, "exp2_nonpos"),
            2.5e-7);
  EXPECT_LT(max_rel_sweep(ops::cpu::vexp2_nonpos<V8>, ref, -1.0, 0.0, 3e-7, 0, "exp2_nonpos_near0"),
            2.5e-7);
  const auto f = ops::cpu::vexp2_nonpos<V8>;
  EXPECT_EQ(f(splat(0.f))[0], 1.f);
  EXPECT_EQ(f(splat(-1.f))[0], 0.5f);
  EXPECT_EQ(f(splat(-126.f))[0], std::numeric_limits<float>::min());
  EXPECT_EQ(f(splat(-126.5f))[0], 0.f);
  EXPECT_EQ(f(splat(-1000.f))[0], 0.f);
  EXPECT_EQ(f(splat(-std::numeric_limits<float>::infinity()))[0], 0.f);
  EXPECT_TRUE(std::isnan(f(splat(std::nanf("")))[0]));
}

TEST(OpsVectorMath, ErfMatchesLibm) {
  auto ref = [](double x) { return std::erf(x); };
  EXPECT_LT(max_rel_sweep(ops::cpu::verf<V8>, ref, -10.0, 10.0, 1e-4, 0, "erf8"), 1e-6);
  // Near zero, where 1 - erfc would cancel.
  EXPECT_LT(max_rel_sweep(ops::cpu::verf<V8>, ref, -1e-3, 1e-3, 1e-7, 0, "erf8_small"), 1e-6);
  EXPECT_EQ(ops::cpu::verf<V8>(splat(0.f))[0], 0.f);
  EXPECT_EQ(ops::cpu::verf<V8>(splat(std::numeric_limits<float>::infinity()))[0], 1.f);
  EXPECT_EQ(ops::cpu::verf<V8>(splat(-std::numeric_limits<float>::infinity()))[0], -1.f);
  EXPECT_TRUE(std::isnan(ops::cpu::verf<V8>(splat(std::nanf("")))[0]));
}

TEST(OpsVectorMath, ErfcMatchesLibm) {
  auto ref = [](double x) { return std::erfc(x); };
  // Down to erfc(9.2) ~ 1e-38, the float normal range.
  EXPECT_LT(max_rel_sweep(ops::cpu::verfc<V8>, ref, -10.0, 9.2, 1e-4, 1e-37, "erfc8"), 1e-6);
  EXPECT_EQ(ops::cpu::verfc<V8>(splat(std::numeric_limits<float>::infinity()))[0], 0.f);
  EXPECT_EQ(ops::cpu::verfc<V8>(splat(-std::numeric_limits<float>::infinity()))[0], 2.f);
  EXPECT_TRUE(std::isnan(ops::cpu::verfc<V8>(splat(std::nanf("")))[0]));
}

TEST(OpsVectorMath, GeluIsExactToOneMillionth) {
  // ops::gelu per element against 0.5·x·erfc(-x/√2) in double, including the far negative
  // tail where 1 + erf(x/√2) would cancel.
  std::vector<float> xs;
  for (double x = -13.0; x <= 13.0; x += 1e-4) xs.push_back(static_cast<float>(x));
  const Tensor y = ops::gelu(Tensor::from_vector({static_cast<int64_t>(xs.size())}, xs));
  const float* yp = y.data<float>();
  double worst = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double x = xs[i], r = 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    if (std::fabs(r) < 1e-37) continue;
    worst = std::max(worst, std::fabs(yp[i] - r) / std::fabs(r));
  }
  std::printf("  [err] gelu         max rel %.3g\n", worst);
  EXPECT_LT(worst, 1e-6);
}

}  // namespace
}  // namespace ipa
