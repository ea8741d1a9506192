// Every checkpoint file in the golden tree reads, validates and has consistent tensors:
// every `.safetensors` and every PyTorch `.bin`, whatever the tree holds; an F16 copy of a
// `.safetensors` holds exactly the values of its F32 original.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "formats/tensor_file.h"
#include "test_support.h"

namespace ipa {
namespace {

// Opens every golden file ending in `suffix` by content and touches every value: every tensor
// converts to F32 with its own shape, every value is finite (the files hold random weights and
// reference outputs: a misread offset or dtype shows up as garbage), and F16 / BF16 values
// convert back to exactly their own bits.
void expect_every_file_reads(const std::string& suffix, const std::string& format,
                             bool contiguous) {
  const auto files = test::golden_files_with_suffix(suffix);
  ASSERT_FALSE(files.empty()) << "no " << suffix << " under " << test::golden_dir();
  for (const auto& path : files) {
    SCOPED_TRACE(path);
    TensorFile f = load_tensor_file(path);
    EXPECT_EQ(f.format, format);
    EXPECT_FALSE(f.tensors.empty());
    for (const auto& nt : f.tensors) {
      if (contiguous) {
        EXPECT_TRUE(nt.tensor.is_contiguous()) << nt.name;
      }
      const Tensor f32 = nt.tensor.to(DType::F32);
      ASSERT_EQ(f32.dtype(), DType::F32) << nt.name;
      ASSERT_EQ(f32.shape(), nt.tensor.shape()) << nt.name;
      const float* v = f32.data<float>();
      int64_t bad = 0;
      for (int64_t i = 0; i < f32.numel(); ++i) bad += std::isfinite(v[i]) ? 0 : 1;
      EXPECT_EQ(bad, 0) << nt.name << ": values that are not finite";
      if (nt.tensor.dtype() == DType::F16 || nt.tensor.dtype() == DType::BF16) {
        const Tensor back = f32.to(nt.tensor.dtype());
        const Tensor orig = nt.tensor.contiguous();
        EXPECT_EQ(std::memcmp(back.raw(), orig.raw(), orig.nbytes()), 0)
            << nt.name << ": " << nt.tensor.describe() << " does not survive F32 and back";
      }
    }
  }
}

TEST(GoldenModels, EverySafetensorsFileReads) {
  expect_every_file_reads(".safetensors", "safetensors", /*contiguous=*/true);
}

TEST(GoldenPytorch, EveryBinFileReads) {
  expect_every_file_reads(".bin", "pytorch-zip", /*contiguous=*/false);
}

// Replaces the last `from` in `s` by `to` when it starts at or after `min_pos`; false when
// there is none.
bool replace_last(std::string& s, const std::string& from, const std::string& to, size_t min_pos) {
  const size_t at = s.rfind(from);
  if (at == std::string::npos || at < min_pos) return false;
  s.replace(at, from.size(), to);
  return true;
}

// The F32 file that an F16 `.safetensors` copy was made from, or "" when `path` is no such copy
// or the tree lacks the original: `<x>_fp16.safetensors` / `<x>.fp16.safetensors` →
// `<x>.safetensors`, `<dir>_fp16/<file>` → `<dir>/<file>`. GOLDEN-README: all random weights are
// fp16-exact, so the `*_fp16*` copies hold the same numbers (clip_vision.json:
// fp16_file_max_abs_diff_vs_fp32 0). The `.bin` copies are compared with their `.safetensors`
// in test_pytorch_vs_safetensors.cpp.
std::string f32_original(const std::string& path) {
  std::string orig = path;
  const size_t name_at = orig.find_last_of('/') + 1;
  const bool copy = replace_last(orig, "_fp16.", ".", name_at) ||
                    replace_last(orig, ".fp16.", ".", name_at) ||
                    replace_last(orig, "_fp16/", "/", test::golden_dir().size());
  return copy && std::filesystem::is_regular_file(orig) ? orig : "";
}

TEST(GoldenModels, Fp16CopiesHoldTheF32Values) {
  int pairs = 0;
  for (const auto& path : test::golden_files_with_suffix(".safetensors")) {
    const std::string orig = f32_original(path);
    if (orig.empty()) continue;
    ++pairs;
    SCOPED_TRACE(path + " vs " + orig);
    const TensorFile a = load_tensor_file(path), b = load_tensor_file(orig);
    std::set<std::string> names_a, names_b;
    int f16 = 0;
    for (const auto& nt : a.tensors) {
      names_a.insert(nt.name);
      f16 += nt.tensor.dtype() == DType::F16 ? 1 : 0;
    }
    for (const auto& nt : b.tensors) names_b.insert(nt.name);
    EXPECT_EQ(names_a, names_b);
    EXPECT_GT(f16, 0) << "the copy holds no F16 tensor";
    for (const auto& nt : a.tensors) {
      const Tensor* other = b.find(nt.name);
      if (!other) continue;  // reported by the name sets
      ASSERT_EQ(nt.tensor.shape(), other->shape()) << nt.name;
      const std::vector<float> x = nt.tensor.to_floats(), y = other->to_floats();
      size_t differ = 0, first = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i] != y[i] && differ++ == 0) first = i;
      }
      EXPECT_EQ(differ, 0u) << nt.name << " (" << nt.tensor.describe() << " vs "
                            << other->describe() << "): first at flat index " << first << ", "
                            << (differ ? x[first] : 0.f) << " vs " << (differ ? y[first] : 0.f);
    }
  }
  EXPECT_GT(pairs, 0) << "no F16 .safetensors copy with its F32 original under "
                      << test::golden_dir();
}

}  // namespace
}  // namespace ipa
