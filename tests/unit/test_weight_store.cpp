// WeightStore::get_float: conversion into a model's compute format (F32 or BF16).
#include <gtest/gtest.h>

#include "tensor/half.h"
#include "test_support.h"
#include "weights/weight_store.h"

namespace ipa {
namespace {

TEST(WeightStoreGetFloat, ConvertsIntoTheComputeFormat) {
  WeightStore store;
  const Tensor f32 = Tensor::from_vector({4}, {1.f, -2.5f, 3.14159f, 1e-3f});
  store.add("w32", f32, "mem");
  store.add("w16", f32.to(DType::F16), "mem");
  const Tensor a = store.get_float("w32", {4}, DType::BF16);
  ASSERT_EQ(a.dtype(), DType::BF16);
  const Tensor b = store.get_float("w16", {4}, DType::BF16);
  ASSERT_EQ(b.dtype(), DType::BF16);
  const Tensor via16 = f32.to(DType::F16).to(DType::F32);
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(a.item_f32({i}), bf16_to_f32(f32_to_bf16(f32.item_f32({i})))) << i;
    EXPECT_EQ(b.item_f32({i}), bf16_to_f32(f32_to_bf16(via16.item_f32({i})))) << i;
  }
  const Tensor back = store.get_float("w16", {4}, DType::F32);
  EXPECT_EQ(back.dtype(), DType::F32);
  EXPECT_EQ(back.to_floats(), via16.to_floats());
}

TEST(WeightStoreGetFloat, BadTargetsAndSourcesNameTheKey) {
  WeightStore store;
  store.add("ids", Tensor::empty({2}, DType::I64), "mem");
  store.add("gain_q7", Tensor::full({2}, 1.f), "mem");
  const std::string bad_target =
      test::error_of([&] { store.get_float("gain_q7", {2}, DType::I64); });
  EXPECT_TRUE(test::contains(bad_target, "gain_q7") && test::contains(bad_target, "I64"))
      << bad_target;
  const std::string ints = test::error_of([&] { store.get_float("ids", {2}, DType::BF16); });
  EXPECT_TRUE(test::contains(ints, "ids") && test::contains(ints, "I64")) << ints;
  const std::string shape = test::error_of([&] { store.get_float("gain_q7", {3}, DType::BF16); });
  EXPECT_TRUE(test::contains(shape, "gain_q7") && test::contains(shape, "3")) << shape;
}

}  // namespace
}  // namespace ipa
