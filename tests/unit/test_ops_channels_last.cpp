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

// The ops the UNet's blocks chain (resnets, transformers, skip concats, ControlNet residuals):
// exact against the NCHW path, and channels-last whenever an operand of the output's shape is.
TEST(OpsChannelsLast, ElementwiseConcatAndActivationsAreExactAndKeepTheLayout) {
  const Tensor a = random_tensor({2, 24, 5, 7}, 20), b = random_tensor({2, 24, 5, 7}, 21);
  const Tensor per_channel = random_tensor({2, 24, 1, 1}, 22),
               one = random_tensor({1, 24, 5, 7}, 23);
  const Tensor cla = ops::to_channels_last(a), clb = ops::to_channels_last(b);
  auto expect_same = [](const Tensor& got, const Tensor& want, const std::string& what) {
    EXPECT_TRUE(ops::is_channels_last(got)) << what;
    EXPECT_EQ(got.shape(), want.shape()) << what;
    EXPECT_EQ(got.contiguous().to_floats(), want.to_floats()) << what;
  };
  // add_ into a channels-last tensor: same layout, a per-channel [B, C, 1, 1], an NCHW b.
  for (const Tensor* other : {&clb, &per_channel, &b}) {
    Tensor into = ops::to_channels_last(a.clone());
    ops::add_(into, *other);
    expect_same(into, ops::add(a, other->contiguous()), "add_");
  }
  // Binary ops with one side broadcast (a ControlNet's one control image for the batch).
  expect_same(ops::add(cla, per_channel), ops::add(a, per_channel), "add per channel");
  expect_same(ops::add(per_channel, cla), ops::add(per_channel, a), "add per channel, swapped");
  expect_same(ops::mul(cla, ops::to_channels_last(one)), ops::mul(a, one), "mul broadcast batch");
  expect_same(ops::sub(cla, b), ops::sub(a, b), "sub mixed layouts");
  expect_same(ops::scale(cla, 0.37f), ops::scale(a, 0.37f), "scale");
  expect_same(ops::silu(cla), ops::silu(a), "silu");
  expect_same(ops::gelu(cla), ops::gelu(a), "gelu");
  // concat along C (the up blocks' skips): channels-last; along another dim, or with an NCHW
  // input, the ordinary contiguous result.
  const Tensor c = random_tensor({2, 8, 5, 7}, 24);
  expect_same(ops::concat({cla, ops::to_channels_last(c)}, 1), ops::concat({a, c}, 1), "concat C");
  const Tensor mixed = ops::concat({cla, c}, 1);
  EXPECT_FALSE(ops::is_channels_last(mixed));
  EXPECT_EQ(mixed.to_floats(), ops::concat({a, c}, 1).to_floats());
  const Tensor batch = ops::concat({cla, clb}, 0);
  EXPECT_EQ(batch.to_floats(), ops::concat({a, b}, 0).to_floats());
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
  // The free function keeps the layout too, with the layer's bits.
  const Tensor free_cl =
      ops::conv2d(ops::to_channels_last(x), w, bias, ops::Conv2dParams::same(1, 1));
  EXPECT_TRUE(ops::is_channels_last(free_cl));
  EXPECT_EQ(free_cl.contiguous().to_floats(), nchw.to_floats());
}

}  // namespace
}  // namespace ipa
