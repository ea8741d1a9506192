// The bf16 attention kernel (ops::attention with DType::BF16; attention_bf16_avx512.cpp) against
// a plain loop in double over the bf16-rounded Q, K and V. Runs only where the kernel runs (AVX-512
// with avx512_bf16, not capped by ONEDNN_MAX_CPU_ISA).
//
// Tolerance: the kernel's only other rounding of consequence is P to bf16 for the second
// product, while the denominator sums the unrounded P. With p̃ⱼ = pⱼ(1 + δⱼ), |δⱼ| ≤ 2⁻⁸ (round
// to nearest, 8 significant bits), |Σ p̃ⱼvⱼ − Σ pⱼvⱼ| / Σ pⱼ ≤ 2⁻⁸ · max|v|. F32 accumulation, the
// 2^x polynomial (1.7e-7 relative) and probabilities below bf16's normal range (flushed to 0)
// add far less than 1e-5 · max|v| here. So |out − ref| ≤ (2⁻⁸ + 1e-5) · max|v| per element.
// Any indexing, packing or pairing error breaks it by orders of magnitude.
#include <cmath>
#include <cstdio>
#include <cstring>

#include "ops/cpu/attention_problem.h"
#include "ops/ops.h"
#include "ops_test_util.h"

namespace ipa {
namespace {

bool bf16_kernel_runs() {
  return ops::cpu::attention_bf16_supported();
}

// Round to nearest even at 8 significant bits (bf16), as vcvtne2ps2bf16 does for normal
// numbers.
double bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

// softmax(Q̃·K̃ᵀ·scale + mask)·Ṽ in double, ~ = rounded to bf16. mask [Lq, Lk] or undefined.
std::vector<double> reference(const Tensor& q, const Tensor& k, const Tensor& v, int H,
                              double scale, const Tensor& mask) {
  const int64_t B = q.size(0), Lq = q.size(1), HD = q.size(2), Lk = k.size(1), D = HD / H;
  auto rounded = [](const Tensor& t) {
    std::vector<double> r;
    for (float x : t.to_floats()) r.push_back(bf16(x));
    return r;
  };
  const auto qv = rounded(q), kv = rounded(k), vv = rounded(v);
  const std::vector<float> mv = mask.defined() ? mask.to_floats() : std::vector<float>();
  std::vector<double> out(B * Lq * HD), s(Lk);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Lq; ++i) {
        double m = -INFINITY;
        for (int64_t j = 0; j < Lk; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) {
            dot += qv[(b * Lq + i) * HD + h * D + d] * kv[(b * Lk + j) * HD + h * D + d];
          }
          s[j] = dot * scale + (mask.defined() ? mv[i * Lk + j] : 0.0);
          m = std::max(m, s[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < Lk; ++j) sum += (s[j] = std::exp(s[j] - m));
        for (int64_t d = 0; d < D; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < Lk; ++j) acc += s[j] * vv[(b * Lk + j) * HD + h * D + d];
          out[(b * Lq + i) * HD + h * D + d] = acc / sum;
        }
      }
  return out;
}

// Largest |out − ref| / max|v| over the elements whose reference is finite; NaN (every key
// masked with -inf) must be NaN in both.
double check(int64_t B, int64_t Lq, int64_t Lk, int H, int64_t D, const Tensor& mask,
             uint64_t seed) {
  const Tensor q = random_tensor({B, Lq, H * D}, seed, -2.f, 2.f);
  const Tensor k = random_tensor({B, Lk, H * D}, seed + 1, -2.f, 2.f);
  const Tensor v = random_tensor({B, Lk, H * D}, seed + 2);
  const float scale = 1.f / std::sqrt(static_cast<float>(D));
  const std::vector<float> out = ops::attention(q, k, v, H, scale, mask, DType::BF16).to_floats();
  const std::vector<double> ref = reference(q, k, v, H, scale, mask);
  double vmax = 0;
  for (float x : v.to_floats()) vmax = std::max(vmax, std::fabs(bf16(x)));
  double err = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(ref[i])) {
      EXPECT_TRUE(std::isnan(out[i])) << i;
      continue;
    }
    err = std::max(err, std::fabs(out[i] - ref[i]) / vmax);
  }
  const std::string label = "attention_bf16_B" + std::to_string(B) + "_Lq" + std::to_string(Lq) +
                            "_Lk" + std::to_string(Lk) + "_H" + std::to_string(H) + "_D" +
                            std::to_string(D) + (mask.defined() ? "_mask" : "");
  constexpr double kBound = 1.0 / 256 + 1e-5;
  std::printf("  [err] %-44s %.3g (bound %.3g)\n", label.c_str(), err, kBound);
  ::testing::Test::RecordProperty(label + "_err", std::to_string(err));
  EXPECT_LE(err, kBound) << label;
  return err;
}

TEST(OpsAttentionBf16, MatchesRoundedReference) {
  if (!bf16_kernel_runs()) GTEST_SKIP() << "no avx512_bf16 (or AVX-512 capped) on this CPU";
  uint64_t seed = 2000;
  // Head sizes of SD1.5 (40, 80, 160), SDXL (64) and odd ones (19, 7: a padded pair); key counts
  // with tails of the 4-key panels, of the key pairs and of the 64-key blocks (> 128 keys).
  for (int64_t D : {40, 64, 80, 160, 19, 7}) {
    for (int64_t Lk : {1, 5, 77, 130, 257}) check(2, 100, Lk, 2, D, {}, seed += 10);
  }
  check(1, 4096, 300, 1, 40, {}, seed += 10);  // many query blocks, two threads' tasks
  check(1, 1, 3, 1, 16, {}, seed += 10);       // a single query
}

TEST(OpsAttentionBf16, Masks) {
  if (!bf16_kernel_runs()) GTEST_SKIP() << "no avx512_bf16 (or AVX-512 capped) on this CPU";
  uint64_t seed = 2500;
  for (int64_t Lk : {77, 193}) {
    const Tensor mask = random_tensor({97, Lk}, seed += 10, -5.f, 0.f);
    check(2, 97, Lk, 2, 40, mask, seed += 10);
  }
  // -inf: row 0 all keys (NaN, as in PyTorch), row 1 the first 100 (a whole first key block),
  // the rest causal.
  const int64_t Lq = 20, Lk = 150;
  Tensor mask = Tensor::zeros({Lq, Lk});
  float* m = mask.data<float>();
  for (int64_t j = 0; j < Lk; ++j) {
    m[j] = -INFINITY;
    if (j < 100) m[Lk + j] = -INFINITY;
    for (int64_t i = 2; i < Lq; ++i) {
      if (j > i * 7) m[i * Lk + j] = -INFINITY;
    }
  }
  check(1, Lq, Lk, 2, 19, mask, seed += 10);
}

TEST(OpsAttentionBf16, RoundsTheProducts) {
  // The dispatch takes the bf16 kernel (its result differs from the F32 one's), and falls back
  // to the F32 kernel under an AVX2 override.
  if (!bf16_kernel_runs()) GTEST_SKIP() << "no avx512_bf16 (or AVX-512 capped) on this CPU";
  const Tensor q = random_tensor({1, 64, 80}, 1, -2.f, 2.f);
  const Tensor k = random_tensor({1, 64, 80}, 2, -2.f, 2.f);
  const Tensor v = random_tensor({1, 64, 80}, 3);
  const std::vector<float> f = ops::attention(q, k, v, 2, 0.15f).to_floats();
  const std::vector<float> b = ops::attention(q, k, v, 2, 0.15f, {}, DType::BF16).to_floats();
  EXPECT_NE(std::memcmp(f.data(), b.data(), f.size() * 4), 0);
  const ops::cpu::IsaOverride avx2(ops::cpu::Isa::Avx2);
  EXPECT_EQ(ops::attention(q, k, v, 2, 0.15f, {}, DType::BF16).to_floats(),
            ops::attention(q, k, v, 2, 0.15f).to_floats());
}

TEST(OpsAttentionBf16, RejectsOtherComputeTypes) {
  const Tensor q = random_tensor({1, 4, 8}, 1);
  EXPECT_THROW(ops::attention(q, q, q, 2, 1.f, {}, DType::F16), Error);
}

}  // namespace
}  // namespace ipa
