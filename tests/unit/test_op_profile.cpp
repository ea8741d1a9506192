// ops::profile: FLOP counts per op kind match the nominal formulas, nested ops are counted
// once (under the outer op), and nothing is recorded while profiling is off.
#include <gtest/gtest.h>

#include "ops/layers.h"
#include "ops/ops.h"
#include "ops/profile.h"

namespace ipa {
namespace {

namespace prof = ops::profile;

const prof::OpStats* find(const std::vector<prof::OpStats>& v, const std::string& kind) {
  for (const auto& s : v) {
    if (s.kind == kind) return &s;
  }
  return nullptr;
}

struct ProfileOn {
  ProfileOn() {
    prof::reset();
    prof::set_enabled(true);
  }
  ~ProfileOn() {
    prof::set_enabled(false);
    prof::reset();
  }
};

TEST(OpProfile, CountsNominalFlops) {
  ProfileOn on;
  const Tensor x = Tensor::full({3, 5, 8}, 0.5f), w = Tensor::full({6, 8}, 0.1f);
  ops::linear(x, w);                                                        // 2·15·8·6
  ops::matmul(Tensor::full({2, 4, 8}, 1.f), Tensor::full({2, 8, 3}, 1.f));  // 2·2·4·3·8
  const Tensor img = Tensor::full({2, 3, 6, 5}, 1.f), k = Tensor::full({4, 3, 3, 3}, 0.1f);
  ops::conv2d(img, k, {}, ops::Conv2dParams::same(1, 1));  // 2·(2·4·6·5)·27
  const Tensor q = Tensor::full({2, 7, 8}, 0.1f), kv = Tensor::full({2, 3, 8}, 0.1f);
  ops::attention(q, kv, kv, 2, 0.5f);  // 4·2·7·3·8
  const auto s = prof::snapshot();
  ASSERT_NE(find(s, "linear"), nullptr);
  EXPECT_DOUBLE_EQ(find(s, "linear")->flops, 2.0 * 15 * 8 * 6);
  EXPECT_DOUBLE_EQ(find(s, "matmul")->flops, 2.0 * 2 * 4 * 3 * 8);
  EXPECT_DOUBLE_EQ(find(s, "conv2d")->flops, 2.0 * (2 * 4 * 6 * 5) * 27);
  EXPECT_DOUBLE_EQ(find(s, "attention")->flops, 4.0 * 2 * 7 * 3 * 8);
  for (const char* kind : {"linear", "matmul", "conv2d", "attention"}) {
    EXPECT_EQ(find(s, kind)->calls, 1) << kind;
    EXPECT_GE(find(s, kind)->seconds, 0.0) << kind;
  }
  EXPECT_DOUBLE_EQ(prof::total().flops, 2.0 * 15 * 8 * 6 + 2.0 * 2 * 4 * 3 * 8 +
                                            2.0 * (2 * 4 * 6 * 5) * 27 + 4.0 * 2 * 7 * 3 * 8);
}

TEST(OpProfile, LayerConvCountedOnceAndNestedOpsBelongToTheOuter) {
  ProfileOn on;
  const ops::Conv2d c(Tensor::full({4, 3, 1, 1}, 0.1f), Tensor::full({4}, 0.f), {});
  c(Tensor::full({1, 3, 4, 4}, 1.f));
  const ops::Linear l(Tensor::full({2, 3}, 1.f), Tensor::full({2}, 0.f));
  l(Tensor::full({5, 3}, 1.f), ops::Activation::GELU);
  const auto s = prof::snapshot();
  ASSERT_NE(find(s, "conv2d"), nullptr);
  EXPECT_EQ(find(s, "conv2d")->calls, 1);
  EXPECT_DOUBLE_EQ(find(s, "conv2d")->flops, 2.0 * (4 * 16) * 3);
  EXPECT_EQ(find(s, "linear")->calls, 1);
  EXPECT_EQ(find(s, "gelu"), nullptr);  // a fused post-op, not a separate op
}

TEST(OpProfile, AnOuterScopeTakesTheNestedOpsFlops) {
  ProfileOn on;
  {
    prof::OpScope group("my_group");
    ops::linear(Tensor::full({3, 4}, 1.f), Tensor::full({5, 4}, 1.f));  // 2·3·4·5
    ops::linear(Tensor::full({1, 4}, 1.f), Tensor::full({2, 4}, 1.f));  // 2·1·4·2
  }
  const auto s = prof::snapshot();
  ASSERT_NE(find(s, "my_group"), nullptr);
  EXPECT_EQ(find(s, "my_group")->calls, 1);
  EXPECT_DOUBLE_EQ(find(s, "my_group")->flops, 2.0 * 3 * 4 * 5 + 2.0 * 1 * 4 * 2);
  EXPECT_EQ(find(s, "linear"), nullptr);
}

TEST(OpProfile, DifferenceAndDisabled) {
  ProfileOn on;
  ops::add(Tensor::full({4}, 1.f), Tensor::full({4}, 2.f));
  const auto a = prof::snapshot();
  ops::add(Tensor::full({4}, 1.f), Tensor::full({4}, 2.f));
  ops::silu(Tensor::full({4}, 1.f));
  const auto d = prof::difference(prof::snapshot(), a);
  ASSERT_NE(find(d, "add"), nullptr);
  EXPECT_EQ(find(d, "add")->calls, 1);
  EXPECT_EQ(find(d, "silu")->calls, 1);
  prof::set_enabled(false);
  ops::add(Tensor::full({4}, 1.f), Tensor::full({4}, 2.f));
  EXPECT_EQ(find(prof::snapshot(), "add")->calls, 2);
}

}  // namespace
}  // namespace ipa
