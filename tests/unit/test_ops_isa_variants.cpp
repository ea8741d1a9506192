// The AVX2 and AVX-512 builds of our row kernels (ops/cpu/pointwise_kernels.h) compute every
// element with the same lane-wise formula and every sum in the same order, so they must agree
// bit for bit: a model gives the same result on every x86-64 CPU. (Each variant is also checked
// against the reference loops in test_ops_pointwise.cpp and test_ops_norms.cpp.)
#include <cstring>
#include <functional>

#include "ops/cpu/isa.h"
#include "ops/ops.h"
#include "ops_test_util.h"

namespace ipa {
namespace {

using ops::cpu::Isa;

void expect_same_bits_on_every_isa(const std::function<Tensor()>& op, const std::string& label) {
  Tensor avx2, avx512;
  {
    const ops::cpu::IsaOverride use(Isa::Avx2);
    avx2 = op();
  }
  {
    const ops::cpu::IsaOverride use(Isa::Avx512);
    avx512 = op();
  }
  ASSERT_EQ(shape_str(avx2.shape()), shape_str(avx512.shape())) << label;
  EXPECT_EQ(0, std::memcmp(avx2.data<float>(), avx512.data<float>(), avx2.numel() * sizeof(float)))
      << label << ": the AVX2 and AVX-512 kernels differ";
}

TEST(OpsIsaVariants, RowKernelsAgreeBitForBit) {
  if (ops::cpu::best_isa() != Isa::Avx512) {
    GTEST_SKIP() << "this CPU runs only the AVX2 variant";
  }
  // Odd sizes: every width's vector loop and tail are exercised.
  const Tensor x = random_tensor({3, 4099}, 11, -30.f, 30.f);
  const Tensor img = random_tensor({2, 64, 13, 11}, 12, -3.f, 5.f);
  const Tensor g = random_tensor({64}, 13, 0.5f, 1.5f), b = random_tensor({64}, 14);
  const Tensor rows = random_tensor({5, 1027}, 15, -50.f, 150.f);
  const Tensor lg = random_tensor({1027}, 16), lb = random_tensor({1027}, 17);
  expect_same_bits_on_every_isa([&] { return ops::gelu(x); }, "gelu");
  expect_same_bits_on_every_isa([&] { return ops::gelu_tanh(x); }, "gelu_tanh");
  expect_same_bits_on_every_isa([&] { return ops::quick_gelu(x); }, "quick_gelu");
  expect_same_bits_on_every_isa([&] { return ops::silu(x); }, "silu");
  expect_same_bits_on_every_isa([&] { return ops::geglu(x.narrow(1, 0, 4098)); }, "geglu");
  expect_same_bits_on_every_isa([&] { return ops::group_norm(img, 32, g, b, 1e-5f); },
                                "group_norm");
  expect_same_bits_on_every_isa([&] { return ops::group_norm(img, 32, g, b, 1e-5f, true); },
                                "group_norm_silu");
  expect_same_bits_on_every_isa([&] { return ops::layer_norm(rows, lg, lb, 1e-5f); }, "layer_norm");
  expect_same_bits_on_every_isa([&] { return ops::layer_norm(rows, {}, {}, 1e-6f); },
                                "layer_norm_plain");
  expect_same_bits_on_every_isa([&] { return ops::softmax(rows); }, "softmax");
}

TEST(OpsIsaVariants, OverrideIsScopedAndChecked) {
  const Isa best = ops::cpu::best_isa();
  {
    const ops::cpu::IsaOverride use(Isa::Avx2);
    EXPECT_EQ(ops::cpu::active_isa(), Isa::Avx2);
  }
  EXPECT_EQ(ops::cpu::active_isa(), best);
  if (best != Isa::Avx512) {
    EXPECT_THROW(ops::cpu::IsaOverride(Isa::Avx512), std::logic_error);
  }
}

}  // namespace
}  // namespace ipa
