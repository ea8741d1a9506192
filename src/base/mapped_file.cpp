#include "base/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "base/error.h"

namespace ipa {

namespace {
// Live mappings, so release_pages() only ever touches file-backed memory (on anonymous memory
// MADV_DONTNEED would zero the data).
std::mutex g_maps_mu;
std::vector<std::pair<const uint8_t*, size_t>> g_maps;
}  // namespace

void MappedFile::release_pages(const void* p, size_t n) {
  const auto* begin = static_cast<const uint8_t*>(p);
  std::lock_guard<std::mutex> lock(g_maps_mu);
  const bool mapped = std::any_of(g_maps.begin(), g_maps.end(), [&](const auto& m) {
    return begin >= m.first && n <= m.second && begin - m.first <= std::ptrdiff_t(m.second - n);
  });
  if (!mapped) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(begin) + page - 1) / page * page;
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(begin) + n) / page * page;
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(std::string("cannot open: ") + std::strerror(errno), path);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("not a regular file", path);
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error(std::string("cannot map: ") + std::strerror(err), path);
    }
    f->data_ = static_cast<const uint8_t*>(p);
    std::lock_guard<std::mutex> lock(g_maps_mu);
    g_maps.emplace_back(f->data_, f->size_);
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (!data_) return;
  {
    std::lock_guard<std::mutex> lock(g_maps_mu);
    std::erase(g_maps, std::make_pair(data_, size_));
  }
  ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace ipa
