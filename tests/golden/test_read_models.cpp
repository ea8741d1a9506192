// Every checkpoint file in the golden tree reads, validates and has consistent tensors:
// every `.safetensors` and every PyTorch `.bin`, whatever the tree holds.
#include <gtest/gtest.h>

#include "formats/tensor_file.h"
#include "test_support.h"

namespace ipa {
namespace {

// Opens every golden file ending in `suffix` by content and touches every value: any dtype
// converts, and the data lies inside the file.
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
      EXPECT_EQ(nt.tensor.to(DType::F32).numel(), nt.tensor.numel()) << nt.name;
    }
  }
}

TEST(GoldenModels, EverySafetensorsFileReads) {
  expect_every_file_reads(".safetensors", "safetensors", /*contiguous=*/true);
}

TEST(GoldenPytorch, EveryBinFileReads) {
  expect_every_file_reads(".bin", "pytorch-zip", /*contiguous=*/false);
}

}  // namespace
}  // namespace ipa
