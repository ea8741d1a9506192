// MappedFile: mapping, errors, and release_pages (drops resident file pages without changing
// what the mapping reads; never touches memory that is not a live mapping).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "base/error.h"
#include "base/mapped_file.h"
#include "bench/process_memory.h"

namespace ipa {
namespace {

std::string write_file(const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("ipa_mapped_" + name)).string();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 131 + 7) % 251);
  return v;
}

TEST(MappedFile, ReleasedPagesReadBackUnchanged) {
  const std::vector<uint8_t> bytes = pattern(5 * 4096 + 123);
  const auto f = MappedFile::open(write_file("release", bytes));
  ASSERT_EQ(f->size(), bytes.size());
  EXPECT_EQ(std::vector<uint8_t>(f->data(), f->data() + f->size()), bytes);
  MappedFile::release_pages(f->data() + 100, 4 * 4096);  // unaligned both ends
  MappedFile::release_pages(f->data(), f->size());       // everything
  EXPECT_EQ(std::vector<uint8_t>(f->data(), f->data() + f->size()), bytes);
}

// The pages really leave this process's resident set (VmRSS), which is the point of it.
TEST(MappedFile, ReleasedPagesLeaveTheResidentSet) {
  constexpr size_t kBytes = 48u << 20;
  const auto f = MappedFile::open(write_file("rss", pattern(kBytes)));
  unsigned sum = 0;
  for (size_t i = 0; i < kBytes; i += 4096) sum += f->data()[i];  // fault every page in
  const double touched = bench::current_rss_mb();
  MappedFile::release_pages(f->data(), f->size());
  const double released = bench::current_rss_mb();
  EXPECT_GT(touched - released, 36.0) << "RSS " << touched << " MB -> " << released << " MB";
  EXPECT_GT(sum, 0u);
}

TEST(MappedFile, ReleaseOutsideAMappingIsANoOp) {
  // Anonymous memory would be zeroed by MADV_DONTNEED: release_pages must leave it alone.
  std::vector<uint8_t> heap = pattern(64 * 4096);
  const std::vector<uint8_t> copy = heap;
  MappedFile::release_pages(heap.data(), heap.size());
  EXPECT_EQ(heap, copy);
  // A range running past the end of a mapping is not "in" it either.
  const std::vector<uint8_t> bytes = pattern(3 * 4096);
  const auto f = MappedFile::open(write_file("past_end", bytes));
  MappedFile::release_pages(f->data() + 4096, f->size());
  EXPECT_EQ(std::vector<uint8_t>(f->data(), f->data() + f->size()), bytes);
}

TEST(MappedFile, MissingFileAndDirectoryAreErrors) {
  EXPECT_THROW(MappedFile::open("/nonexistent/ipa_mapped_file"), Error);
  EXPECT_THROW(MappedFile::open(std::filesystem::temp_directory_path().string()), Error);
}

}  // namespace
}  // namespace ipa
