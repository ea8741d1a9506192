// Flash-style attention against the naive softmax(Q·Kᵀ·scale + mask)·V in double, for every
// instruction-set variant of the kernel this CPU runs (ops/cpu/isa.h; the variants that ran are
// printed and recorded as a test property).
#include <cmath>
#include <cstdio>
#include <cstring>

#include "ops/cpu/attention_problem.h"
#include "ops/ops.h"
#include "ops_test_util.h"

namespace ipa {
namespace {

// mask given as [B|1, H|1, Lq, Lk] or [Lq, Lk]
Tensor attention_ref(const Tensor& q, const Tensor& k, const Tensor& v, int H, double scale,
                     const Tensor& mask) {
  const int64_t B = q.size(0), Lq = q.size(1), HD = q.size(2), Lk = k.size(1), D = HD / H;
  const auto qv = doubles(q), kv = doubles(k), vv = doubles(v);
  const std::vector<double> mv = mask.defined() ? doubles(mask) : std::vector<double>();
  int64_t mb = 0, mh = 0;
  if (mask.defined() && mask.dim() == 4) {
    mb = mask.size(0) == 1 ? 0 : mask.size(1) * Lq * Lk;
    mh = mask.size(1) == 1 ? 0 : Lq * Lk;
  }
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
          s[j] = dot * scale + (mask.defined() ? mv[b * mb + h * mh + i * Lk + j] : 0.0);
          m = std::max(m, s[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < Lk; ++j) sum += (s[j] = std::exp(s[j] - m));
        std::vector<double> acc(D, 0.0);
        for (int64_t j = 0; j < Lk; ++j)
          for (int64_t d = 0; d < D; ++d) acc[d] += s[j] * vv[(b * Lk + j) * HD + h * D + d];
        for (int64_t d = 0; d < D; ++d) out[(b * Lq + i) * HD + h * D + d] = acc[d] / sum;
      }
  return from_doubles(q.shape(), out);
}

// ops::attention's result with each kernel variant this CPU runs (the first is what
// ops::attention itself uses).
std::vector<std::pair<std::string, Tensor>> each_variant(const Tensor& q, const Tensor& k,
                                                         const Tensor& v, int H, float scale,
                                                         const Tensor& mask = {}) {
  std::vector<std::pair<std::string, Tensor>> out = {
      {"dispatch", ops::attention(q, k, v, H, scale, mask)}};
  for (auto isa : ops::cpu::supported_isas()) {
    out.emplace_back(ops::cpu::isa_name(isa), ops::cpu::attention_on(isa, q, k, v, H, scale, mask));
  }
  return out;
}

TEST(OpsAttention, VariantsThatRunHere) {
  std::string names;
  for (auto isa : ops::cpu::supported_isas())
    names += std::string(names.empty() ? "" : ",") + ops::cpu::isa_name(isa);
  std::printf("[attention] kernel variants tested on this CPU: %s (ops::attention uses %s)\n",
              names.c_str(), ops::cpu::isa_name(ops::cpu::best_isa()));
  RecordProperty("attention_variants", names);
  EXPECT_FALSE(names.empty());
}

void check(int64_t B, int64_t Lq, int64_t Lk, int H, int64_t D, int mask_kind, uint64_t seed) {
  Tensor q = random_tensor({B, Lq, H * D}, seed, -2.f, 2.f);
  Tensor k = random_tensor({B, Lk, H * D}, seed + 1, -2.f, 2.f);
  Tensor v = random_tensor({B, Lk, H * D}, seed + 2);
  Tensor mask;
  if (mask_kind == 1) mask = random_tensor({Lq, Lk}, seed + 3, -5.f, 0.f);
  if (mask_kind == 2) {
    // [B, 1, Lq, Lk] padding-style mask: the last keys of batch 1 masked with -10000
    mask = Tensor::zeros({B, 1, Lq, Lk});
    float* m = mask.data<float>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Lq; ++i)
        for (int64_t j = Lk / 2 + 1; j < Lk; ++j) m[(b * Lq + i) * Lk + j] = b ? -10000.f : 0.f;
  }
  if (mask_kind == 3) mask = random_tensor({B, H, Lq, Lk}, seed + 4, -3.f, 3.f);
  const float scale = 1.f / std::sqrt(static_cast<float>(D));
  const std::string label = "attention_B" + std::to_string(B) + "_Lq" + std::to_string(Lq) + "_Lk" +
                            std::to_string(Lk) + "_H" + std::to_string(H) + "_D" +
                            std::to_string(D) + "_mask" + std::to_string(mask_kind);
  const Tensor ref = attention_ref(q, k, v, H, scale, mask);
  for (const auto& [name, out] : each_variant(q, k, v, H, scale, mask)) {
    expect_close(out, ref, 1e-5, label + "_" + name);
  }
}

TEST(OpsAttention, TokenCountsAndHeadSizes) {
  uint64_t seed = 600;
  for (int64_t L : {1, 5, 77, 257, 1000}) {
    for (int64_t D : {40, 64, 80, 160}) {
      if (L == 1000 && D != 40 && D != 160) continue;  // keeps the suite fast
      check(1, L, L, L >= 257 ? 1 : 2, D, 0, seed += 10);
    }
  }
}

TEST(OpsAttention, CrossAttentionShapes) {
  check(2, 257, 77, 5, 64, 0, 700);  // image tokens attend to text
  check(2, 64, 4, 8, 40, 0, 710);    // IP-Adapter: 4 image-prompt tokens
  check(1, 3, 1, 1, 8, 0, 720);      // a single key
  check(1, 9, 13, 3, 7, 0, 730);     // head size not a multiple of 8
}

TEST(OpsAttention, KeyBlockBoundariesAndTransposeEdges) {
  // Up to 128 keys run as one block, more in blocks of 64 with a tail; the query block moves in
  // and out in 8×8 transposes with element-wise edges (query counts and head sizes that are not
  // multiples of 8).
  uint64_t seed = 1100;
  for (int64_t Lk : {127, 128, 129, 192, 193}) check(1, 100, Lk, 2, 12, 0, seed += 10);
  check(2, 13, 129, 1, 19, 1, seed += 10);
  check(1, 96, 128, 1, 8, 3, seed += 10);
}

TEST(OpsAttention, Masks) {
  check(1, 77, 77, 2, 64, 1, 800);   // [Lq, Lk]
  check(2, 77, 77, 2, 40, 2, 810);   // [B, 1, Lq, Lk] padding mask
  check(2, 33, 257, 3, 80, 3, 820);  // [B, H, Lq, Lk]
  check(1, 5, 300, 1, 160, 1, 830);  // mask across several key blocks
}

TEST(OpsAttention, MinusInfinityMasks) {
  // Row 0: every key masked (PyTorch gives NaN). Row 1: the first 100 of 150 keys masked, so
  // the first key block is all -inf and the running max starts at -inf. Other rows: a causal
  // pattern. Rows 1.. must match the reference.
  const int64_t Lq = 20, Lk = 150, H = 2, D = 40;
  Tensor q = random_tensor({1, Lq, H * D}, 1000, -2.f, 2.f);
  Tensor k = random_tensor({1, Lk, H * D}, 1001, -2.f, 2.f);
  Tensor v = random_tensor({1, Lk, H * D}, 1002);
  Tensor mask = Tensor::zeros({Lq, Lk});
  float* m = mask.data<float>();
  for (int64_t j = 0; j < Lk; ++j) {
    m[j] = -INFINITY;
    if (j < 100) m[Lk + j] = -INFINITY;
    for (int64_t i = 2; i < Lq; ++i) {
      if (j > i * 7) m[i * Lk + j] = -INFINITY;
    }
  }
  const float scale = 1.f / std::sqrt(static_cast<float>(D));
  Tensor ref = attention_ref(q, k, v, H, scale, mask);
  for (const auto& [name, out] : each_variant(q, k, v, H, scale, mask)) {
    const float* o = out.data<float>();
    for (int64_t d = 0; d < H * D; ++d) EXPECT_TRUE(std::isnan(o[d])) << name << " " << d;
    expect_close(out.narrow(1, 1, Lq - 1).contiguous(), ref.narrow(1, 1, Lq - 1).contiguous(), 1e-5,
                 "attention_minus_inf_masks_" + name);
  }
}

TEST(OpsAttention, LongSequenceOneHead) {
  // 4096 tokens, one head of 40: the SD 1.5 64x64 latent self-attention size. The reference
  // is only checked on a few query rows to keep the test fast.
  const int64_t L = 4096, D = 40;
  Tensor q = random_tensor({1, L, D}, 900, -2.f, 2.f), k = random_tensor({1, L, D}, 901, -2.f, 2.f);
  Tensor v = random_tensor({1, L, D}, 902);
  const float scale = 1.f / std::sqrt(40.f);
  for (const auto& [name, out] : each_variant(q, k, v, 1, scale)) {
    for (int64_t i : {0, 1, 63, 64, 95, 96, 2047, 4095}) {
      Tensor qi = q.narrow(1, i, 1).contiguous();
      expect_close(out.narrow(1, i, 1).contiguous(), attention_ref(qi, k, v, 1, scale, {}), 1e-5,
                   "attention_4096_row" + std::to_string(i) + "_" + name);
    }
  }
}

TEST(OpsAttention, VariantsAgreeBitForBit) {
  // Every lane runs the same operations in the same order at every vector width (the tiles differ
  // only in how many lanes they cover), so the AVX2 and AVX-512 kernels give the same bits; a
  // model gives the same image whichever the CPU picks. Shapes cover partial query blocks and
  // tiles, key tails (not a multiple of the 64-key block or the 4-row panel), odd head sizes and
  // masks.
  struct Case {
    int64_t B, Lq, Lk, H, D;
    int mask;
  };
  for (const Case c :
       {Case{2, 100, 77, 2, 40, 0}, Case{1, 257, 131, 1, 7, 0}, Case{1, 200, 4, 3, 40, 0},
        Case{2, 97, 150, 2, 64, 2}, Case{1, 33, 257, 3, 80, 1}}) {
    Tensor q = random_tensor({c.B, c.Lq, c.H * c.D}, 40 + c.Lq, -2.f, 2.f);
    Tensor k = random_tensor({c.B, c.Lk, c.H * c.D}, 41 + c.Lk, -2.f, 2.f);
    Tensor v = random_tensor({c.B, c.Lk, c.H * c.D}, 42);
    Tensor mask;
    if (c.mask == 1) mask = random_tensor({c.Lq, c.Lk}, 43, -5.f, 0.f);
    if (c.mask == 2) mask = random_tensor({c.B, 1, c.Lq, c.Lk}, 44, -3.f, 3.f);
    const auto outs = each_variant(q, k, v, static_cast<int>(c.H), 0.37f, mask);
    const std::vector<float> first = outs[0].second.to_floats();
    for (const auto& [name, out] : outs) {
      const std::vector<float> o = out.to_floats();
      ASSERT_EQ(o.size(), first.size());
      int64_t differ = 0;
      for (size_t i = 0; i < o.size(); ++i) differ += std::memcmp(&o[i], &first[i], 4) != 0;
      EXPECT_EQ(differ, 0) << name << " Lq " << c.Lq << " Lk " << c.Lk << " D " << c.D;
    }
  }
}

TEST(OpsAttention, RejectsBadShapes) {
  Tensor q = random_tensor({1, 4, 8}, 1), k = random_tensor({1, 5, 8}, 2);
  EXPECT_THROW(ops::attention(q, k, k, 3, 1.f), Error);                            // heads
  EXPECT_THROW(ops::attention(q, random_tensor({1, 5, 6}, 3), k, 2, 1.f), Error);  // k dim
  EXPECT_THROW(ops::attention(q, k, random_tensor({1, 4, 8}, 3), 2, 1.f), Error);  // v len
  EXPECT_THROW(ops::attention(q, k, k, 2, 1.f, random_tensor({4, 4}, 4)), Error);  // mask
  EXPECT_THROW(ops::attention(q, k, k, 2, 1.f, random_tensor({2, 1, 4, 5}, 4)), Error);
}

}  // namespace
}  // namespace ipa
