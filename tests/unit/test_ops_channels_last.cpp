// Channels-last activations (ops.h): the ops that keep the layout give the values the NCHW
// path gives (bit for bit where no sum is reordered, to rounding for group norm) and return
// channels-last tensors; any other op reads them as ordinary strided views.
#include "ops/layers.h"
#include "ops/ops.h"
#include "ops_test_util.h"

namespace ipa {
namespace {

TEST(OpsChannelsLast, LayoutHelpers) {
  const Tensor x = random_tensor({2, 5, 3, 4}, 1);
  EXPECT_FALSE(ops::is_channels_last(x));
  const Tensor cl = ops::to_channels_last(x);
  EXPECT_TRUE(ops::is_channels_last(cl));
  EXPECT_EQ(cl.shape(), x.shape());
  EXPECT_EQ(cl.strides(), (Shape{3 * 4 * 5, 1, 4 * 5, 5}));
  EXPECT_EQ(cl.contiguous().to_floats(), x.to_floats());  // same values, other layout
  EXPECT_EQ(ops::to_channels_last(cl).raw(), cl.raw());   // already channels-last: no copy
  const Tensor e = ops::empty_channels_last({1, 16, 2, 3});
  EXPECT_TRUE(ops::is_channels_last(e));
  EXPECT_EQ(e.shape(), (Shape{1, 16, 2, 3}));
  EXPECT_FALSE(ops::is_channels_last(random_tensor({2, 3, 4}, 2)));
  EXPECT_THROW(ops::to_channels_last(random_tensor({2, 3, 4}, 2)), Error);
}

TEST(OpsChannelsLast, GroupNormMatchesTheNchwPathAndKeepsTheLayout) {
  // 48 channels in 8 groups (6 per group: not a vector multiple, so the row tails run too),
  // and more pixels than one statistics chunk.
  const Tensor x = random_tensor({2, 48, 50, 47}, 3, -2.f, 3.f);
  const Tensor gamma = random_tensor({48}, 4), beta = random_tensor({48}, 5);
  for_each_isa([&](const std::string& isa) {
    for (bool silu : {false, true}) {
      const Tensor ref = ops::group_norm(x, 8, gamma, beta, 1e-6f, silu);
      const Tensor got = ops::group_norm(ops::to_channels_last(x), 8, gamma, beta, 1e-6f, silu);
      EXPECT_TRUE(ops::is_channels_last(got));
      expect_close(got.contiguous(), ref, 1e-6, "group_norm_cl" + isa + (silu ? "_silu" : ""));
    }
  });
}

TEST(OpsChannelsLast, AddAndUpsampleAreExactAndKeepTheLayout) {
  const Tensor a = random_tensor({1, 32, 7, 9}, 6), b = random_tensor({1, 32, 7, 9}, 7);
  const Tensor sum = ops::add(ops::to_channels_last(a), ops::to_channels_last(b));
  EXPECT_TRUE(ops::is_channels_last(sum));
  EXPECT_EQ(sum.contiguous().to_floats(), ops::add(a, b).to_floats());
  // Mixed layouts still add correctly (through the strided path).
  EXPECT_EQ(ops::add(ops::to_channels_last(a), b).to_floats(), ops::add(a, b).to_floats());
  for (auto [h, w] : {std::pair<int64_t, int64_t>{14, 18}, {9, 20}}) {
    const Tensor up = ops::upsample_nearest(ops::to_channels_last(a), h, w);
    EXPECT_TRUE(ops::is_channels_last(up));
    EXPECT_EQ(up.contiguous().to_floats(), ops::upsample_nearest(a, h, w).to_floats());
  }
}

TEST(OpsChannelsLast, ConvLayerReadsAndWritesChannelsLastBitIdentically) {
  const Tensor w = random_tensor({32, 16, 3, 3}, 8), bias = random_tensor({32}, 9);
  const ops::Conv2d conv(w, bias, ops::Conv2dParams::same(1, 1));
  const Tensor x = random_tensor({1, 16, 20, 13}, 10);
  const Tensor nchw = conv(x), cl = conv(ops::to_channels_last(x));
  EXPECT_FALSE(ops::is_channels_last(nchw));
  EXPECT_TRUE(ops::is_channels_last(cl));
  EXPECT_EQ(cl.contiguous().to_floats(), nchw.to_floats());
  // 1x1, and an output of 3 channels (the VAE's conv_out).
  const ops::Conv2d out(random_tensor({3, 16, 3, 3}, 11), {}, ops::Conv2dParams::same(1, 1));
  EXPECT_EQ(out(ops::to_channels_last(x)).contiguous().to_floats(), out(x).to_floats());
  const ops::Conv2d pw(random_tensor({8, 16, 1, 1}, 12), {}, ops::Conv2dParams{});
  EXPECT_EQ(pw(ops::to_channels_last(x)).contiguous().to_floats(), pw(x).to_floats());
}

}  // namespace
}  // namespace ipa
