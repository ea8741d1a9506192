// Read-only access to a zip archive held in memory (usually a memory-mapped file), on minizip.
// Entries stored uncompressed are returned as zero-copy views into that memory; deflated
// entries are inflated into owned memory. ZIP64 archives (over 4 GB) are supported.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace ipa {

struct ZipMemoryCursor;  // minizip's view of the bytes (zip_archive.cpp)

struct ZipEntry {
  std::string name;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint32_t crc32 = 0;
  int method = 0;              // 0 stored, 8 deflate
  uint64_t directory_pos = 0;  // where minizip finds the entry again
  uint64_t entry_index = 0;
};

// Bytes of one entry; `owner` keeps them alive (the mapping, or the inflated buffer).
struct ZipBytes {
  std::shared_ptr<const void> owner;
  const uint8_t* data = nullptr;
  size_t size = 0;
  bool zero_copy = false;
};

class ZipArchive {
 public:
  // Caps against hostile archives.
  static constexpr size_t kMaxEntries = 1u << 20;
  // Deflate cannot expand beyond ~1032:1; a declared size above this ratio is a lie.
  static constexpr uint64_t kMaxInflateRatio = 1100;
  static constexpr uint64_t kMaxInflatedBytes = 64ull << 30;

  // `data`/`size` must stay alive as long as `owner`; `path` names the archive in errors.
  // Throws ipa::Error when the bytes are not a readable zip archive.
  ZipArchive(std::shared_ptr<const void> owner, const uint8_t* data, size_t size, std::string path);
  ~ZipArchive();
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(const std::string& name) const;  // nullptr when absent

  // The entry's bytes: a view for stored entries, an owned inflated copy (always CRC-checked)
  // for deflated ones. A stored entry's CRC is checked only when `verify_crc` (that reads every
  // byte, which a multi-GB memory-mapped tensor storage should not pay for at load).
  // Not thread-safe (minizip keeps a cursor).
  ZipBytes read(const ZipEntry& entry, bool verify_crc = false);

 private:
  void list_entries();
  void open_entry(const ZipEntry& entry);

  std::shared_ptr<const void> owner_;
  const uint8_t* data_;
  size_t size_;
  std::string path_;
  std::unique_ptr<ZipMemoryCursor> cursor_;
  void* unz_ = nullptr;  // unzFile
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> by_name_;
};

}  // namespace ipa
