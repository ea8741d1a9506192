#include "formats/zip_archive.h"

#include <minizip/unzip.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "base/error.h"

namespace ipa {

// minizip reads through callbacks; these serve it from the memory we were given, so the same
// code path runs on a memory-mapped file and on a fuzzer's buffer. minizip opens its "file"
// once per archive handle, so the archive owns the one cursor and close() only rewinds it.
struct ZipMemoryCursor {
  const uint8_t* data;
  uint64_t size;
  uint64_t pos;
  // minizip's byte readers report a short read as UNZ_EOF, which equals UNZ_OK, and then use an
  // uninitialised value; only a non-zero testerror() turns it into an error. So report one.
  bool short_read;
};

namespace {

using Cursor = ZipMemoryCursor;

voidpf ZCALLBACK mem_open(voidpf /*opaque*/, const void* filename, int mode) {
  if ((mode & ZLIB_FILEFUNC_MODE_READWRITEFILTER) != ZLIB_FILEFUNC_MODE_READ) return nullptr;
  auto* c = static_cast<Cursor*>(const_cast<void*>(filename));
  c->pos = 0;
  return c;
}

uLong ZCALLBACK mem_read(voidpf, voidpf stream, void* buf, uLong size) {
  auto* c = static_cast<Cursor*>(stream);
  const uint64_t n = c->pos >= c->size ? 0 : std::min<uint64_t>(size, c->size - c->pos);
  if (n) std::memcpy(buf, c->data + c->pos, n);
  c->pos += n;
  c->short_read = n < size;
  return static_cast<uLong>(n);
}

uLong ZCALLBACK mem_write(voidpf, voidpf, const void*, uLong) {
  return 0;
}

ZPOS64_T ZCALLBACK mem_tell(voidpf, voidpf stream) {
  return static_cast<Cursor*>(stream)->pos;
}

long ZCALLBACK mem_seek(voidpf, voidpf stream, ZPOS64_T offset, int origin) {
  auto* c = static_cast<Cursor*>(stream);
  uint64_t base = 0;
  switch (origin) {
    case ZLIB_FILEFUNC_SEEK_SET:
      base = 0;
      break;
    case ZLIB_FILEFUNC_SEEK_CUR:
      base = c->pos;
      break;
    case ZLIB_FILEFUNC_SEEK_END:
      base = c->size;
      break;
    default:
      return -1;
  }
  // minizip passes negative END offsets as wrapped unsigned values; do the arithmetic modulo
  // 2^64 and reject anything that does not land inside the buffer.
  const uint64_t target = base + offset;
  if (target > c->size) return -1;
  c->pos = target;
  return 0;
}

int ZCALLBACK mem_close(voidpf, voidpf stream) {
  static_cast<Cursor*>(stream)->pos = 0;
  return 0;
}

int ZCALLBACK mem_error(voidpf, voidpf stream) {
  return static_cast<Cursor*>(stream)->short_read ? 1 : 0;
}

// Fuzz builds (the libFuzzer convention macro) skip CRC checks, so that mutations of an entry's
// bytes reach the code behind the zip layer instead of all failing here, and hand out stored
// entries as exactly-sized heap copies, so that AddressSanitizer sees a read past an entry
// (inside the archive such a read would land on the next entry's bytes, unnoticed).
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
constexpr bool kFuzzBuild = true;
#else
constexpr bool kFuzzBuild = false;
#endif
constexpr bool kCheckCrc = !kFuzzBuild;

uint32_t crc_of(const uint8_t* p, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {  // zlib takes 32-bit lengths
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

ZipArchive::ZipArchive(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                       std::string path)
    : owner_(std::move(owner)), data_(data), size_(size), path_(std::move(path)) {
  cursor_ = std::make_unique<ZipMemoryCursor>(ZipMemoryCursor{data_, size_, 0, false});
  zlib_filefunc64_def io{};
  io.zopen64_file = mem_open;
  io.zread_file = mem_read;
  io.zwrite_file = mem_write;
  io.ztell64_file = mem_tell;
  io.zseek64_file = mem_seek;
  io.zclose_file = mem_close;
  io.zerror_file = mem_error;
  io.opaque = nullptr;
  unz_ = unzOpen2_64(cursor_.get(), &io);
  if (!unz_)
    throw Error("not a readable zip archive (no valid end-of-central-directory record)", path_);
  try {
    list_entries();
  } catch (...) {
    unzClose(unz_);
    unz_ = nullptr;
    throw;
  }
}

ZipArchive::~ZipArchive() {
  if (unz_) unzClose(unz_);
}

void ZipArchive::list_entries() {
  unz_global_info64 global{};
  if (unzGetGlobalInfo64(unz_, &global) != UNZ_OK)
    throw Error("cannot read the zip directory", path_);
  if (global.number_entry == 0) return;  // an empty archive
  int rc = unzGoToFirstFile(unz_);
  while (rc == UNZ_OK) {
    if (entries_.size() >= kMaxEntries)
      throw Error("zip archive has more than " + std::to_string(kMaxEntries) + " entries", path_);
    unz_file_info64 info{};
    if (unzGetCurrentFileInfo64(unz_, &info, nullptr, 0, nullptr, 0, nullptr, 0) != UNZ_OK)
      throw Error("corrupt zip directory entry #" + std::to_string(entries_.size()), path_);
    std::string name(info.size_filename, '\0');
    if (unzGetCurrentFileInfo64(unz_, &info, name.data(), static_cast<uLong>(name.size() + 1),
                                nullptr, 0, nullptr, 0) != UNZ_OK)
      throw Error("corrupt zip directory entry #" + std::to_string(entries_.size()), path_);
    if (name.find('\0') != std::string::npos)
      throw Error("zip entry name contains a NUL byte", path_);
    if (info.flag & 1) throw Error("zip entry '" + name + "' is encrypted", path_);
    unz64_file_pos pos{};
    if (unzGetFilePos64(unz_, &pos) != UNZ_OK)
      throw Error("corrupt zip directory entry '" + name + "'", path_);
    ZipEntry e;
    e.name = name;
    e.compressed_size = info.compressed_size;
    e.uncompressed_size = info.uncompressed_size;
    e.crc32 = static_cast<uint32_t>(info.crc);
    e.method = static_cast<int>(info.compression_method);
    e.directory_pos = pos.pos_in_zip_directory;
    e.entry_index = pos.num_of_file;
    if (!by_name_.emplace(name, entries_.size()).second)
      throw Error("zip archive holds two entries named '" + name + "'", path_);
    entries_.push_back(std::move(e));
    rc = unzGoToNextFile(unz_);
  }
  if (rc != UNZ_END_OF_LIST_OF_FILE)
    throw Error("corrupt zip directory after entry #" + std::to_string(entries_.size()), path_);
  if (global.number_entry != 0xffff && global.number_entry != entries_.size()) {
    throw Error("zip directory declares " + std::to_string(global.number_entry) +
                    " entries but holds " + std::to_string(entries_.size()),
                path_);
  }
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

void ZipArchive::open_entry(const ZipEntry& entry) {
  unz64_file_pos pos{entry.directory_pos, entry.entry_index};
  if (unzGoToFilePos64(unz_, &pos) != UNZ_OK)
    throw Error("cannot locate zip entry '" + entry.name + "'", path_);
  // Checks the local header against the central directory.
  if (unzOpenCurrentFile(unz_) != UNZ_OK)
    throw Error("corrupt local header of zip entry '" + entry.name + "'", path_);
}

ZipBytes ZipArchive::read(const ZipEntry& entry, bool verify_crc) {
  ZipBytes out;
  if (entry.method == 0) {
    if (entry.compressed_size != entry.uncompressed_size) {
      throw Error("stored zip entry '" + entry.name + "' declares " +
                      std::to_string(entry.compressed_size) + " stored but " +
                      std::to_string(entry.uncompressed_size) + " uncompressed bytes",
                  path_);
    }
    open_entry(entry);
    const uint64_t start = unzGetCurrentFileZStreamPos64(unz_);
    unzCloseCurrentFile(unz_);
    if (start > size_ || entry.uncompressed_size > size_ - start) {
      throw Error("zip entry '" + entry.name + "' (" + std::to_string(entry.uncompressed_size) +
                      " bytes at offset " + std::to_string(start) + ") runs past the end of the " +
                      std::to_string(size_) + "-byte archive (truncated file?)",
                  path_);
    }
    out.owner = owner_;
    out.data = data_ + start;
    out.size = static_cast<size_t>(entry.uncompressed_size);
    out.zero_copy = true;
    if (kCheckCrc && verify_crc && crc_of(out.data, out.size) != entry.crc32)
      throw Error("CRC mismatch in zip entry '" + entry.name + "' (corrupt file)", path_);
    if (kFuzzBuild) {
      auto copy = std::make_shared<std::vector<uint8_t>>(out.data, out.data + out.size);
      out.owner = std::shared_ptr<const void>(copy, copy->data());
      out.data = copy->data();
      out.zero_copy = false;
    }
    return out;
  }
  if (entry.method != Z_DEFLATED) {
    throw Error("zip entry '" + entry.name + "' uses compression method " +
                    std::to_string(entry.method) +
                    "; only stored (0) and deflate (8) are supported",
                path_);
  }
  const uint64_t declared = entry.uncompressed_size;
  const uint64_t ratio_cap = entry.compressed_size > (kMaxInflatedBytes / kMaxInflateRatio)
                                 ? kMaxInflatedBytes
                                 : entry.compressed_size * kMaxInflateRatio + 4096;
  if (declared > std::min(ratio_cap, kMaxInflatedBytes) ||
      declared > std::numeric_limits<size_t>::max()) {
    throw Error("zip entry '" + entry.name + "' declares " + std::to_string(declared) +
                    " uncompressed bytes from " + std::to_string(entry.compressed_size) +
                    " compressed: implausible, refusing to inflate",
                path_);
  }
  if (entry.compressed_size > size_) {
    throw Error(
        "zip entry '" + entry.name + "' declares more compressed bytes than the archive has",
        path_);
  }
  open_entry(entry);
  // Grow as data really arrives, so a lying size costs nothing before it is caught.
  auto buffer = std::make_shared<std::vector<uint8_t>>();
  buffer->reserve(static_cast<size_t>(std::min<uint64_t>(declared, 16u << 20)));
  constexpr unsigned kChunk = 1u << 20;
  for (;;) {
    const size_t have = buffer->size();
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, declared - have + 1));
    buffer->resize(have + want);
    const int n = unzReadCurrentFile(unz_, buffer->data() + have, static_cast<unsigned>(want));
    if (n < 0) {
      unzCloseCurrentFile(unz_);
      throw Error("corrupt deflate data in zip entry '" + entry.name + "' (minizip error " +
                      std::to_string(n) + ")",
                  path_);
    }
    buffer->resize(have + static_cast<size_t>(n));
    if (n == 0) break;
    if (buffer->size() > declared) break;  // minizip stops at the declared size; belt and braces
  }
  const int close_rc = unzCloseCurrentFile(unz_);
  if (buffer->size() != declared) {
    throw Error("zip entry '" + entry.name + "' inflates to " + std::to_string(buffer->size()) +
                    " bytes but declares " + std::to_string(declared),
                path_);
  }
  if (close_rc == UNZ_CRCERROR && kCheckCrc)
    throw Error("CRC mismatch in zip entry '" + entry.name + "' (corrupt file)", path_);
  if (close_rc != UNZ_OK && close_rc != UNZ_CRCERROR)
    throw Error("cannot finish reading zip entry '" + entry.name + "'", path_);
  out.data = buffer->data();
  out.size = buffer->size();
  out.owner = std::shared_ptr<const void>(buffer, buffer->data());
  return out;
}

}  // namespace ipa
