// Random-weight synthesis for benchmarks: the recording store and the values.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "bench/peak_fma.h"
#include "bench/random_weights.h"
#include "formats/safetensors.h"
#include "models/common/load_layers.h"
#include "tensor/half.h"
#include "test_support.h"

namespace ipa {
namespace {

TEST(RecordingWeightStore, RecordsEachRequestOnceWithZeroPlaceholders) {
  bench::RecordingWeightStore store;
  store.add("present", Tensor::full({2}, 3.f), "mem");
  const ops::Linear l = load_linear(store.scope("block"), "proj", 4, 3, true);
  load_linear(store.scope("block"), "proj", 4, 3, true);  // again: still recorded once
  ASSERT_EQ(store.requested().size(), 2u);
  EXPECT_EQ(store.requested()[0].name, "block.proj.weight");
  EXPECT_EQ(store.requested()[0].shape, (Shape{3, 4}));
  EXPECT_EQ(store.requested()[1].name, "block.proj.bias");
  EXPECT_EQ(store.parameters(), 15);
  for (float v : l.weight().to_floats()) EXPECT_EQ(v, 0.f);
  EXPECT_FALSE(store.has("block.proj.weight"));                  // has() sees stored tensors only
  EXPECT_EQ(store.get_f32("present", {2}).to_floats()[0], 3.f);  // stored ones win
  EXPECT_THROW(store.get("other"), Error);                       // no shape: nothing to make up
  // The same name asked with another shape is a loader bug.
  EXPECT_THROW(load_linear(store.scope("block"), "proj", 5, 3, true), Error);
}

TEST(WeightStore, AbsentWeightsAreAnErrorNamingThem) {
  WeightStore store;
  store.set_label("model.safetensors");
  const std::string msg = test::error_of([&] { store.get_f32("lin.weight", {3, 2}); });
  EXPECT_TRUE(test::contains(msg, "lin.weight")) << msg;
  EXPECT_TRUE(test::contains(msg, "model.safetensors")) << msg;
}

TEST(RandomWeights, DeterministicBoundedAndNameDependent) {
  const Tensor a = bench::random_f16_tensor("w.weight", {64, 300}, 7);
  const Tensor b = bench::random_f16_tensor("w.weight", {64, 300}, 7);
  const Tensor c = bench::random_f16_tensor("v.weight", {64, 300}, 7);
  const Tensor d = bench::random_f16_tensor("w.weight", {64, 300}, 8);
  ASSERT_EQ(a.dtype(), DType::F16);
  const auto fa = a.to_floats(), fb = b.to_floats(), fc = c.to_floats(), fd = d.to_floats();
  EXPECT_EQ(fa, fb);
  EXPECT_NE(fa, fc);
  EXPECT_NE(fa, fd);
  const float bound = 1.f / std::sqrt(300.f);
  double mean = 0, sq = 0;
  for (float v : fa) {
    EXPECT_LE(std::fabs(v), bound * 1.001f);
    mean += v;
    sq += double(v) * v;
  }
  mean /= fa.size();
  sq /= fa.size();
  EXPECT_NEAR(mean, 0.0, 0.05 * bound);
  EXPECT_NEAR(std::sqrt(sq), bound / std::sqrt(3.0), 0.05 * bound);  // uniform: σ = bound/√3
  // Norm gains around 1, biases small.
  for (float v : bench::random_f16_tensor("norm.weight", {100}, 1).to_floats()) {
    EXPECT_NEAR(v, 1.f, 0.0201f);
  }
  for (float v : bench::random_f16_tensor("norm.bias", {100}, 1).to_floats()) {
    EXPECT_LE(std::fabs(v), 0.0201f);
  }
}

TEST(RandomWeights, WritesTheRecordedTensors) {
  const std::string dir = test::temp_dir("random_weights");
  const std::string path = dir + "/m.safetensors";
  bench::write_random_safetensors(path, {{"a.weight", {3, 5}}, {"a.bias", {3}}}, 11);
  const TensorFile f = read_safetensors(path);
  ASSERT_EQ(f.tensors.size(), 2u);
  ASSERT_NE(f.find("a.weight"), nullptr);
  EXPECT_EQ(f.find("a.weight")->dtype(), DType::F16);
  EXPECT_EQ(f.find("a.weight")->to_floats(),
            bench::random_f16_tensor("a.weight", {3, 5}, 11).to_floats());
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
}

TEST(PeakFma, KernelAndMeasurement) {
  EXPECT_TRUE(std::isfinite(bench::fma_chains(1000, 1.f)));
  // The lane count follows the ISA the probe runs (16 floats with AVX-512, 8 with AVX2).
  const int lanes = bench::fma_lanes();
  EXPECT_EQ(lanes, std::string(bench::fma_isa()) == "avx512" ? 16 : 8) << bench::fma_isa();
  EXPECT_DOUBLE_EQ(bench::fma_chains_flops(10), 2.0 * lanes * bench::kFmaChains * 10);
  EXPECT_GT(bench::measure_peak_fma_gflops(1, 0.01, 1), 0.0);
}

}  // namespace
}  // namespace ipa
