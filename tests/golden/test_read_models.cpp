// Every safetensors file in the golden tree reads, validates and has consistent tensors.
#include <gtest/gtest.h>

#include <filesystem>

#include "formats/safetensors.h"
#include "test_support.h"

namespace ipa {
namespace {

std::vector<std::string> files_with_suffix(const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(test::golden_dir())) {
    const std::string p = e.path().string();
    if (e.is_regular_file() && p.size() > suffix.size() &&
        p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(GoldenModels, EverySafetensorsFileReads) {
  const auto files = files_with_suffix(".safetensors");
  ASSERT_FALSE(files.empty()) << "no safetensors under " << test::golden_dir();
  for (const auto& path : files) {
    SCOPED_TRACE(path);
    TensorFile f = load_tensor_file(path);
    EXPECT_EQ(f.format, "safetensors");
    EXPECT_FALSE(f.tensors.empty());
    for (const auto& nt : f.tensors) {
      EXPECT_TRUE(nt.tensor.is_contiguous());
      // Touch every value: any float dtype converts, and the data lies inside the mapping.
      Tensor v = nt.tensor.to(DType::F32);
      EXPECT_EQ(v.numel(), nt.tensor.numel());
    }
  }
}

}  // namespace
}  // namespace ipa
