// Every PyTorch `.bin` in the golden tree holds exactly the tensors of the `.safetensors`
// beside it: `X.bin` ↔ `X.safetensors` (same dtype, same bytes) and `X_fp16.bin` ↔
// `X.safetensors` (fp16 values equal the fp32 ones exactly; the golden weights are fp16-exact).
// Pairs are discovered, so any golden tree with the same layout works. That every `.bin` reads
// at all is checked in test_read_models.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "formats/pytorch.h"
#include "formats/safetensors.h"
#include "test_support.h"

namespace ipa {
namespace {

namespace fs = std::filesystem;

struct Pair {
  std::string bin, safetensors;
  bool fp16;
};

std::vector<Pair> discover_pairs() {
  std::vector<Pair> out;
  for (const auto& bin : test::golden_files_with_suffix(".bin")) {
    const fs::path p(bin);
    std::string stem = p.stem().string();
    bool fp16 = false;
    if (stem.size() > 5 && stem.ends_with("_fp16")) {
      stem.resize(stem.size() - 5);
      fp16 = true;
    }
    const fs::path st = p.parent_path() / (stem + ".safetensors");
    if (fs::exists(st)) out.push_back({bin, st.string(), fp16});
  }
  return out;
}

std::vector<const NamedTensor*> sorted_by_name(const TensorFile& f) {
  std::vector<const NamedTensor*> v;
  for (const auto& nt : f.tensors) v.push_back(&nt);
  std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->name < b->name; });
  return v;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return ca.nbytes() == cb.nbytes() && std::memcmp(ca.raw(), cb.raw(), ca.nbytes()) == 0;
}

TEST(GoldenPytorch, BinMatchesSafetensors) {
  const auto pairs = discover_pairs();
  ASSERT_FALSE(pairs.empty()) << "no X.bin / X.safetensors pairs under " << test::golden_dir();
  for (const auto& pair : pairs) {
    SCOPED_TRACE(pair.bin + " vs " + pair.safetensors);
    const TensorFile bin = read_pytorch(pair.bin);
    const TensorFile st = read_safetensors(pair.safetensors);
    const auto a = sorted_by_name(bin), b = sorted_by_name(st);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i]->name, b[i]->name);
      const Tensor& x = a[i]->tensor;
      const Tensor& y = b[i]->tensor;
      ASSERT_EQ(x.shape(), y.shape()) << a[i]->name;
      if (pair.fp16) {
        EXPECT_EQ(x.dtype(), DType::F16) << a[i]->name;
        EXPECT_TRUE(same_bytes(x.to(DType::F32), y.to(DType::F32)))
            << a[i]->name << ": fp16 values differ from the fp32 file";
      } else {
        EXPECT_EQ(x.dtype(), y.dtype()) << a[i]->name;
        EXPECT_TRUE(same_bytes(x, y)) << a[i]->name << ": bytes differ";
      }
    }
  }
}

}  // namespace
}  // namespace ipa
