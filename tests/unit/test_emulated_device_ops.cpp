// Every op on the emulated device (tests/support/emulated_device.h) equals the host op bit for
// bit in F32: the dispatch at the top of each op reaches the device's backend with the right
// arguments, results stay on the device, and mixed devices are refused.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>

#include "emulated_device.h"
#include "ops/backend.h"
#include "ops/layers.h"
#include "ops/ops.h"
#include "test_support.h"

namespace ipa {
namespace {

Tensor random_tensor(const Shape& shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(numel_of(shape)));
  for (float& x : v) x = u(rng);
  return Tensor::from_vector(shape, v);
}

class EmulatedOps : public ::testing::Test {
 protected:
  void SetUp() override {
    dev_ = test::register_emulated_device();
    test::reset_emulated_device_stats();
  }
  // The same op on host inputs and on their device copies: the device result stays on the
  // device, has the host result's shape and dtype, and the same bytes.
  void expect_same(const char* label, const std::vector<Tensor>& inputs,
                   const std::function<Tensor(const std::vector<Tensor>&)>& op,
                   bool via_backend = true) {
    std::vector<Tensor> on_dev;
    for (const Tensor& t : inputs) on_dev.push_back(t.defined() ? t.to(dev_) : t);
    const size_t ops_before = test::emulated_device_stats().ops;
    const Tensor want = op(inputs);
    const Tensor got = op(on_dev);
    // slice and permute are device copies through the DeviceMemory, not backend calls.
    EXPECT_EQ(test::emulated_device_stats().ops > ops_before, via_backend) << label;
    EXPECT_EQ(got.device(), dev_) << label;
    ASSERT_EQ(got.shape(), want.shape()) << label;
    ASSERT_EQ(got.dtype(), want.dtype()) << label;
    const Tensor back = got.to(Device{});
    EXPECT_EQ(std::memcmp(back.raw(), want.raw(), want.nbytes()), 0) << label << " differs";
  }
  Device dev_;
};

TEST_F(EmulatedOps, EveryOpMatchesTheHostBitForBit) {
  using ops::Activation;
  const Tensor x = random_tensor({2, 5, 8}, 1), w = random_tensor({6, 8}, 2),
               b = random_tensor({6}, 3);
  expect_same("linear", {x, w, b},
              [](auto& t) { return ops::linear(t[0], t[1], t[2], Activation::GELU); });
  expect_same("linear_nobias", {x, w}, [](auto& t) { return ops::linear(t[0], t[1]); });
  expect_same("matmul", {x, random_tensor({2, 7, 8}, 4)},
              [](auto& t) { return ops::matmul(t[0], t[1], true, 0.5f); });
  const Tensor img = random_tensor({1, 4, 6, 6}, 5), cw = random_tensor({8, 4, 3, 3}, 6),
               cb = random_tensor({8}, 7);
  expect_same("conv2d", {img, cw, cb},
              [](auto& t) { return ops::conv2d(t[0], t[1], t[2], ops::Conv2dParams::same(2, 1)); });
  const Tensor g = random_tensor({4}, 8), be = random_tensor({4}, 9);
  expect_same("group_norm", {img, g, be},
              [](auto& t) { return ops::group_norm(t[0], 2, t[1], t[2], 1e-5f, true); });
  const Tensor g8 = random_tensor({8}, 10), b8 = random_tensor({8}, 11);
  expect_same("layer_norm", {x, g8, b8},
              [](auto& t) { return ops::layer_norm(t[0], t[1], t[2], 1e-5f); });
  expect_same("layer_norm_noaffine", {x},
              [](auto& t) { return ops::layer_norm(t[0], Tensor(), Tensor(), 1e-5f); });
  expect_same("softmax", {x}, [](auto& t) { return ops::softmax(t[0]); });
  const Tensor q = random_tensor({2, 5, 8}, 12), k = random_tensor({2, 3, 8}, 13),
               v = random_tensor({2, 3, 8}, 14), mask = random_tensor({5, 3}, 15);
  expect_same("attention", {q, k, v},
              [](auto& t) { return ops::attention(t[0], t[1], t[2], 2, 0.5f); });
  expect_same("attention_mask", {q, k, v, mask},
              [](auto& t) { return ops::attention(t[0], t[1], t[2], 2, 0.5f, t[3]); });
  expect_same("gelu", {x}, [](auto& t) { return ops::gelu(t[0]); });
  expect_same("gelu_tanh", {x}, [](auto& t) { return ops::gelu_tanh(t[0]); });
  expect_same("quick_gelu", {x}, [](auto& t) { return ops::quick_gelu(t[0]); });
  expect_same("silu", {x}, [](auto& t) { return ops::silu(t[0]); });
  expect_same("activation", {x}, [](auto& t) { return ops::activation(t[0], Activation::SiLU); });
  expect_same("geglu", {x}, [](auto& t) { return ops::geglu(t[0]); });
  const Tensor row = random_tensor({1, 5, 1}, 16);
  expect_same("add", {x, row}, [](auto& t) { return ops::add(t[0], t[1]); });
  expect_same("sub", {x, row}, [](auto& t) { return ops::sub(t[0], t[1]); });
  expect_same("mul", {x, row}, [](auto& t) { return ops::mul(t[0], t[1]); });
  expect_same("div", {x, random_tensor({8}, 17, 1.f, 2.f)},
              [](auto& t) { return ops::div(t[0], t[1]); });
  expect_same("scale", {x}, [](auto& t) { return ops::scale(t[0], 0.3f); });
  expect_same("add_scaled", {x, q}, [](auto& t) { return ops::add_scaled(t[0], t[1], 0.7f); });
  expect_same("add_", {x, row}, [](auto& t) {
    Tensor a = t[0].clone();
    ops::add_(a, t[1]);
    return a;
  });
  expect_same("concat", {x, q}, [](auto& t) { return ops::concat({t[0], t[1]}, 1); });
  expect_same(
      "slice", {x}, [](auto& t) { return ops::slice(t[0], 2, 1, 5); }, false);
  expect_same(
      "slice_whole", {x}, [](auto& t) { return ops::slice(t[0], 0, 0, 2); }, false);
  expect_same(
      "permute", {x},
      [](auto& t) {
        return ops::permute(t[0], {2, 0, 1});
      },
      false);
  Tensor ids = Tensor::empty({2, 3}, DType::I64);
  for (int64_t i = 0; i < 6; ++i) ids.data<int64_t>()[i] = (i * 5) % 6;
  expect_same("embedding", {w, ids}, [](auto& t) { return ops::embedding(t[0], t[1]); });
  expect_same("argmax", {x}, [](auto& t) { return ops::argmax(t[0], -1); });
  expect_same("upsample_nearest", {img},
              [](auto& t) { return ops::upsample_nearest(t[0], 12, 9); });
  const Tensor ts = Tensor::from_vector({2}, {1.f, 981.f});
  expect_same("timestep_embedding", {ts},
              [](auto& t) { return ops::timestep_embedding(t[0], 32, true, 0.f); });
  for (ops::Interp mode : {ops::Interp::Nearest, ops::Interp::Bilinear, ops::Interp::Bicubic}) {
    expect_same("interpolate", {img},
                [mode](auto& t) { return ops::interpolate(t[0], 4, 9, mode, false); });
  }
}

TEST_F(EmulatedOps, LayersWithDeviceWeightsCallTheBackend) {
  const Tensor w = random_tensor({6, 8}, 20), b = random_tensor({6}, 21),
               x = random_tensor({3, 8}, 22);
  const ops::Linear host_layer(w, b), dev_layer(w.to(dev_), b.to(dev_));
  const Tensor want = host_layer(x, ops::Activation::SiLU);
  const Tensor got = dev_layer(x.to(dev_), ops::Activation::SiLU);
  EXPECT_EQ(got.device(), dev_);
  EXPECT_EQ(got.to_floats(), want.to_floats());
  EXPECT_EQ(dev_layer.weight().device(), dev_);
  EXPECT_EQ(dev_layer.weight_bytes(), w.nbytes());

  const Tensor cw = random_tensor({5, 4, 3, 3}, 23), cb = random_tensor({5}, 24),
               img = random_tensor({2, 4, 7, 7}, 25);
  const auto p = ops::Conv2dParams::same(1, 1);
  const ops::Conv2d host_conv(cw, cb, p), dev_conv(cw.to(dev_), cb.to(dev_), p);
  const Tensor cwant = host_conv(img);
  const Tensor cgot = dev_conv(img.to(dev_));
  EXPECT_EQ(cgot.device(), dev_);
  EXPECT_EQ(cgot.to_floats(), cwant.to_floats());
  EXPECT_EQ(dev_conv.weight_bytes(), cw.nbytes());
}

TEST_F(EmulatedOps, HalfActivationsComeBackInTheirDtype) {
  const Tensor x = random_tensor({4, 8}, 30), w = random_tensor({3, 8}, 31);
  for (DType dt : {DType::BF16, DType::F16}) {
    const Tensor xd = x.to(dt).to(dev_), wd = w.to(dt).to(dev_);
    const Tensor y = ops::linear(xd, wd);
    EXPECT_EQ(y.dtype(), dt);
    EXPECT_EQ(y.device(), dev_);
    EXPECT_TRUE(test::AllCloseRel(y.to(Device{}).to(DType::F32), ops::linear(x, w), 2e-2));
    EXPECT_EQ(ops::gelu(xd).dtype(), dt);
  }
}

TEST_F(EmulatedOps, MixedDevicesAreRefusedNamingTheOp) {
  const Tensor x = random_tensor({2, 8}, 40), w = random_tensor({3, 8}, 41);
  const std::string msg = test::error_of([&] { ops::linear(x.to(dev_), w); });
  EXPECT_TRUE(test::contains(msg, "linear")) << msg;
  EXPECT_TRUE(test::contains(msg, "emulated:0")) << msg;
  const std::string cat = test::error_of([&] { ops::concat({x, x.to(dev_)}, 0); });
  EXPECT_TRUE(test::contains(cat, "concat")) << cat;
  // The host never reads device memory: host access refuses.
  EXPECT_THROW(x.to(dev_).data<float>(), Error);
}

}  // namespace
}  // namespace ipa
