// TorchGenerator against torch.manual_seed(s); torch.randn(shape) / torch.rand on the CPU:
// bit for bit, across the 16-element switch between PyTorch's scalar and vectorised paths.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "sampling/scheduler_config.h"
#include "sampling/torch_rng.h"
#include "test_support.h"

namespace ipa {
namespace {

using sampling::TorchGenerator;

std::string shape_name(const Shape& shape) {
  std::string s;
  for (int64_t d : shape) {
    if (!s.empty()) s += 'x';
    s += std::to_string(d);
  }
  return s;
}

// Every float identical (as bits); the message names the first difference.
::testing::AssertionResult BitEqual(const Tensor& actual, const Tensor& expected) {
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure()
           << "shape " << shape_str(actual.shape()) << " vs " << shape_str(expected.shape());
  }
  const std::vector<float> a = actual.to_floats(), e = expected.to_floats();
  int64_t mismatches = 0, first = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &e[i], sizeof(float)) != 0) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++mismatches;
    }
  }
  if (mismatches == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << mismatches << " of " << a.size() << " values differ; first at " << first << ": "
         << a[first] << " vs " << e[first];
}

nlohmann::json rng_case() {
  return sampling::read_config_json_file(test::golden_path("torch_rng/torch_rng.json"));
}

TEST(GoldenTorchRng, RandnMatchesTorchBitForBit) {
  const auto c = rng_case();
  const TensorFile& g = test::load_golden("torch_rng");
  ASSERT_FALSE(c.at("seeds").empty());
  for (const auto& seed_j : c.at("seeds")) {
    const auto seed = seed_j.get<uint64_t>();
    for (const auto& shape_j : c.at("shapes")) {
      const Shape shape = shape_j.get<Shape>();
      const std::string key = "randn.seed" + std::to_string(seed) + "." + shape_name(shape);
      SCOPED_TRACE(key);
      TorchGenerator gen(seed);
      EXPECT_TRUE(BitEqual(gen.randn(shape), test::golden_tensor(g, key)));
    }
  }
}

TEST(GoldenTorchRng, ConsecutiveDrawsContinueTheStream) {
  const auto c = rng_case();
  const TensorFile& g = test::load_golden("torch_rng");
  const auto& shapes = c.at("shapes");
  ASSERT_GE(shapes.size(), 2u);
  const Shape first_shape = shapes[shapes.size() - 2].get<Shape>();
  const Shape second_shape = shapes[shapes.size() - 1].get<Shape>();
  for (const auto& seed_j : c.at("seeds")) {
    const auto seed = seed_j.get<uint64_t>();
    const std::string key = "randn_seq.seed" + std::to_string(seed);
    SCOPED_TRACE(key);
    TorchGenerator gen(seed);
    EXPECT_TRUE(BitEqual(gen.randn(first_shape), test::golden_tensor(g, key + ".first")));
    EXPECT_TRUE(BitEqual(gen.randn(second_shape), test::golden_tensor(g, key + ".second")));
    // manual_seed restarts the stream.
    gen.manual_seed(seed);
    EXPECT_TRUE(BitEqual(gen.randn(first_shape), test::golden_tensor(g, key + ".first")));
  }
}

TEST(GoldenTorchRng, RandMatchesTorchBitForBit) {
  const auto c = rng_case();
  const TensorFile& g = test::load_golden("torch_rng");
  for (const auto& seed_j : c.at("seeds")) {
    const auto seed = seed_j.get<uint64_t>();
    const std::string prefix = "rand.seed" + std::to_string(seed) + ".";
    int found = 0;
    for (const auto& nt : g.tensors) {
      if (nt.name.rfind(prefix, 0) != 0) continue;
      SCOPED_TRACE(nt.name);
      ++found;
      TorchGenerator gen(seed);
      EXPECT_TRUE(BitEqual(gen.rand(nt.tensor.shape()), nt.tensor));
    }
    EXPECT_EQ(found, 1) << prefix;
  }
}

}  // namespace
}  // namespace ipa
