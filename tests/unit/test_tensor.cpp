#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>

#include "tensor/block_pool.h"
#include "tensor/half.h"
#include "tensor/tensor.h"
#include "test_support.h"

namespace ipa {
namespace {

// Reference f32 -> f16 by exhaustive search over all finite halves (slow, so sampled).
uint16_t f16_by_search(float f) {
  if (std::isnan(f)) return 0x7e00;
  uint16_t best = 0;
  double best_err = INFINITY;
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const double v = f16_to_f32(static_cast<uint16_t>(h));
    const double err = std::fabs(v - std::fabs(static_cast<double>(f)));
    if (err < best_err || (err == best_err && (h & 1) == 0)) {
      best_err = err;
      best = static_cast<uint16_t>(h);
    }
  }
  // beyond the largest half + half an ulp: infinity
  if (std::fabs(f) >= 65520.0f) best = 0x7c00;
  return static_cast<uint16_t>(best | (std::signbit(f) ? 0x8000 : 0));
}

TEST(Half, F16RoundTripAllBitPatterns) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    const uint16_t back = f32_to_f16(f);
    if (std::isnan(f)) {
      EXPECT_EQ(back & 0x7c00, 0x7c00);
      EXPECT_NE(back & 0x3ff, 0);
    } else {
      ASSERT_EQ(back, h) << "pattern " << h;
    }
  }
}

TEST(Half, F16RoundingMatchesNearestEvenSearch) {
  const float samples[] = {0.1f,      1.0f / 3,       65504.f,          65519.f, 65520.f,
                           1e-8f,     2.98e-8f,       5.96e-8f,         6.1e-5f, 6.0e-5f,
                           -3.14159f, 1.00048828125f, 1.000732421875f,  2049.f,  2051.f,
                           -0.f,      1e-3f,          3.0517578125e-05f};
  for (float f : samples) EXPECT_EQ(f32_to_f16(f), f16_by_search(f)) << f;
  EXPECT_EQ(f32_to_f16(INFINITY), 0x7c00);
  EXPECT_EQ(f32_to_f16(-INFINITY), 0xfc00);
}

TEST(Half, BulkF16MatchesScalar) {
  Tensor t = test::random_tensor({1003}, 7, -70000.f, 70000.f);
  std::vector<uint16_t> bulk(1003);
  f32_to_f16(t.data<float>(), bulk.data(), bulk.size());
  std::vector<float> back(1003);
  f16_to_f32(bulk.data(), back.data(), back.size());
  for (size_t i = 0; i < bulk.size(); ++i) {
    EXPECT_EQ(bulk[i], f32_to_f16(t.data<float>()[i]));
    EXPECT_EQ(back[i], f16_to_f32(bulk[i]));
  }
}

TEST(Half, BF16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is exactly halfway between two bf16 values; the even one is 1.0
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.01171875f), 0x3f82);  // 1 + 3*2^-8 halfway → even (0x3f82)
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  EXPECT_EQ(f32_to_bf16(INFINITY), 0x7f80);
  EXPECT_EQ(bf16_to_f32(0x0001), std::ldexp(1.0f, -133));  // subnormal
}

TEST(Half, BulkBF16MatchesScalar) {
  // Random values, halfway cases, NaNs (quieted), infinities, subnormals, signed zeros.
  // Random bit patterns cover every exponent (a uniform draw over ±3e38 would overflow its
  // range b - a to infinity and give nothing but infinities).
  Tensor t = Tensor::empty({1003});
  float* v = t.data<float>();
  std::mt19937 bits(8);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const uint32_t u = static_cast<uint32_t>(bits());
    std::memcpy(&v[i], &u, sizeof u);
  }
  int finite = 0;
  for (int64_t i = 0; i < t.numel(); ++i) finite += std::isfinite(v[i]) ? 1 : 0;
  ASSERT_GT(finite, 900);
  const float specials[] = {NAN,
                            -NAN,
                            INFINITY,
                            -INFINITY,
                            1.00390625f,
                            1.01171875f,
                            0.f,
                            -0.f,
                            std::ldexp(1.0f, -140),
                            -std::ldexp(3.0f, -130)};
  for (size_t i = 0; i < std::size(specials); ++i) v[i * 97] = specials[i];
  uint32_t snan = 0x7f800001u;  // signalling NaN: must come out quiet
  std::memcpy(&v[5], &snan, sizeof snan);
  std::vector<uint16_t> bulk(1003);
  f32_to_bf16(v, bulk.data(), bulk.size());
  for (size_t i = 0; i < bulk.size(); ++i) EXPECT_EQ(bulk[i], f32_to_bf16(v[i])) << i;
  EXPECT_TRUE(std::isnan(bf16_to_f32(bulk[5])));
}

TEST(Tensor, ViewsAndCopies) {
  Tensor t = Tensor::from_vector({2, 3}, {0, 1, 2, 3, 4, 5});
  Tensor tt = t.transpose(0, 1);
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.shape(), (Shape{3, 2}));
  EXPECT_EQ(tt.contiguous().to_floats(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(t.narrow(1, 1, 2).to_floats(), (std::vector<float>{1, 2, 4, 5}));
  EXPECT_EQ(t.select(0, 1).to_floats(), (std::vector<float>{3, 4, 5}));
  EXPECT_EQ(t.reshape({3, -1}).shape(), (Shape{3, 2}));
  EXPECT_EQ(tt.reshape({6}).to_floats(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_THROW(t.reshape({4, 2}), Error);
  EXPECT_THROW(t.narrow(1, 2, 2), Error);
  EXPECT_EQ(t.unsqueeze(0).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(t.unsqueeze(-1).shape(), (Shape{2, 3, 1}));
}

TEST(Tensor, DTypeConversions) {
  Tensor t = Tensor::from_vector({4}, {1.5f, -2.f, 65504.f, 0.1f});
  Tensor h = t.to(DType::F16);
  EXPECT_EQ(h.dtype(), DType::F16);
  EXPECT_EQ(h.to(DType::F32).to_floats(),
            (std::vector<float>{1.5f, -2.f, 65504.f, f16_to_f32(f32_to_f16(0.1f))}));
  Tensor i = t.to(DType::I64);
  EXPECT_EQ(i.data<int64_t>()[1], -2);
  EXPECT_EQ(i.to(DType::F32).to_floats()[0], 1.f);
  EXPECT_THROW(t.data<int64_t>(), Error);
}

TEST(Tensor, ReadOnlyViewRefusesWrites) {
  static const float data[2] = {1, 2};
  Tensor v = Tensor::view_of(nullptr, data, {2}, DType::F32);
  EXPECT_THROW(v.raw_mutable(), Error);
  EXPECT_EQ(static_cast<const Tensor&>(v).data<float>()[1], 2.f);
  Tensor c = v.clone();
  c.data<float>()[0] = 5;
  EXPECT_EQ(c.to_floats()[0], 5.f);
}

}  // namespace
}  // namespace ipa

namespace ipa {
namespace {

// Long-lived weights bypass the block pool: the pool neither counts them nor caches their
// blocks when they are released. Small and large (own mapping) sizes, 64-byte aligned.
TEST(Tensor, SystemAllocationBypassesThePool) {
  const PoolStats before = pool_stats();
  for (int64_t n : {int64_t{3}, int64_t{1} << 20}) {
    {
      Tensor t = Tensor::empty({n}, DType::F32, Tensor::Alloc::kSystem);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % 64, 0u);
      float* p = t.data<float>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(i % 1000);  // exact in F16
      EXPECT_EQ(p[n - 1], static_cast<float>((n - 1) % 1000));
      EXPECT_EQ(pool_stats().bytes_in_use, before.bytes_in_use);
      const Tensor half = t.to(DType::F16, Tensor::Alloc::kSystem);
      EXPECT_EQ(half.item_f32({n - 1}), static_cast<float>((n - 1) % 1000));
    }
    EXPECT_EQ(pool_stats().bytes_cached, before.bytes_cached);
  }
}

}  // namespace
}  // namespace ipa

namespace ipa {
namespace {

// The pool reuses a free block of up to twice the size asked before it asks the system for
// more, so a model whose calls pass through many sizes does not hold one block per size.
TEST(BlockPool, ReusesALargerFreeBlockBeforeGrowing) {
  pool_trim();
  const size_t big = size_t{8} << 20;  // 8 MiB: its own bucket
  void* first = nullptr;
  {
    void* p = nullptr;
    auto owner = pool_allocate(big, &p);
    first = p;
  }
  const PoolStats after_free = pool_stats();
  EXPECT_GE(after_free.bytes_cached, big);
  {
    void* p = nullptr;
    auto owner = pool_allocate(big * 3 / 4, &p);  // another bucket, within 2x: the same block
    EXPECT_EQ(p, first);
    EXPECT_EQ(pool_stats().bytes_cached + pool_stats().bytes_in_use,
              after_free.bytes_cached + after_free.bytes_in_use);
  }
  {
    void* p = nullptr;
    auto owner = pool_allocate(big / 3, &p);  // less than half: not that block
    EXPECT_NE(p, first);
  }
  pool_trim();
}

}  // namespace
}  // namespace ipa
