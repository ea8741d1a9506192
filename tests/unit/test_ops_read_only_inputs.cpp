// Ops must read read-only inputs: F32 weights of a memory-mapped safetensors file arrive as
// read-only views (zero copy), and so do tensors of golden files. The models rely on this for
// zero-copy weights in every norm and elementwise op.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "ops/ops.h"
#include "test_support.h"

namespace ipa {
namespace {

// A read-only view of a copy of `t` (like a tensor in a mapped file).
Tensor read_only(const Tensor& t) {
  auto data = std::make_shared<std::vector<float>>(t.to_floats());
  Tensor v = Tensor::view_of(data, data->data(), t.shape(), DType::F32);
  EXPECT_TRUE(v.read_only());
  return v;
}

TEST(OpsReadOnlyInputs, Norms) {
  const Tensor x = test::random_tensor({2, 4, 3, 3}, 1);
  const Tensor g = test::random_tensor({4}, 2), b = test::random_tensor({4}, 3);
  EXPECT_TRUE(test::AllCloseAbs(ops::group_norm(read_only(x), 2, read_only(g), read_only(b), 1e-6f),
                                ops::group_norm(x, 2, g, b, 1e-6f), 0));
  const Tensor y = test::random_tensor({3, 5}, 4);
  const Tensor g5 = test::random_tensor({5}, 5), b5 = test::random_tensor({5}, 6);
  EXPECT_TRUE(test::AllCloseAbs(ops::layer_norm(read_only(y), read_only(g5), read_only(b5), 1e-5f),
                                ops::layer_norm(y, g5, b5, 1e-5f), 0));
  EXPECT_TRUE(test::AllCloseAbs(ops::softmax(read_only(y)), ops::softmax(y), 0));
}

TEST(OpsReadOnlyInputs, Elementwise) {
  const Tensor a = test::random_tensor({2, 3, 4}, 7), b = test::random_tensor({3, 4}, 8);
  const Tensor ra = read_only(a), rb = read_only(b);
  EXPECT_TRUE(test::AllCloseAbs(ops::add(ra, rb), ops::add(a, b), 0));
  EXPECT_TRUE(test::AllCloseAbs(ops::sub(ra, rb), ops::sub(a, b), 0));
  EXPECT_TRUE(test::AllCloseAbs(ops::mul(ra, rb), ops::mul(a, b), 0));
  EXPECT_TRUE(test::AllCloseAbs(ops::div(ra, rb), ops::div(a, b), 0));
  EXPECT_TRUE(test::AllCloseAbs(ops::scale(ra, 0.5f), ops::scale(a, 0.5f), 0));
  EXPECT_TRUE(
      test::AllCloseAbs(ops::add_scaled(ra, read_only(a), 0.3f), ops::add_scaled(a, a, 0.3f), 0));
  Tensor acc = a.clone();
  ops::add_(acc, rb);
  EXPECT_TRUE(test::AllCloseAbs(acc, ops::add(a, b), 0));
}

}  // namespace
}  // namespace ipa
