// Read-only memory map of a whole file; the mapping lives as long as any shared_ptr to it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ipa {

class MappedFile {
 public:
  // Throws ipa::Error naming the path when the file cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Drops the whole pages of [p, p + n) from this process's resident memory when the range
  // lies in a live mapping (no-op otherwise). The data stays valid: a later read faults it
  // back in from the page cache. For weights converted into another dtype once, whose file
  // pages would otherwise count towards the peak until the file is closed.
  static void release_pages(const void* p, size_t n);

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ipa
