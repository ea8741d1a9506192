#include "tensor/block_pool.h"

#include <sys/mman.h>

#include <malloc.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace ipa {

namespace {

size_t bucket_size(size_t bytes) {
  if (bytes <= (1u << 20)) return (bytes + 4095) & ~size_t(4095);
  size_t p = 1;
  while (p < bytes) p <<= 1;
  const size_t step = p / 8;
  return (bytes + step - 1) / step * step;
}

struct Pool {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;  // by block size
  PoolStats stats;

  // A free block of `size`, else the smallest free block of at most twice that, else a new
  // one. Returns the block and its size (what give() must be told).
  std::pair<void*, size_t> take(size_t size) {
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto it = free_blocks.lower_bound(size);
           it != free_blocks.end() && it->first <= 2 * size; ++it) {
        if (it->second.empty()) continue;
        void* p = it->second.back();
        it->second.pop_back();
        stats.bytes_cached -= it->first;
        note_use(it->first);
        return {p, it->first};
      }
    }
    void* p = std::aligned_alloc(64, size);
    if (!p) throw std::bad_alloc();
    std::lock_guard<std::mutex> lock(mu);
    note_use(size);
    return {p, size};
  }
  void note_use(size_t size) {
    stats.bytes_in_use += size;
    if (stats.bytes_in_use > stats.peak_in_use) stats.peak_in_use = stats.bytes_in_use;
    const size_t footprint = stats.bytes_in_use + stats.bytes_cached;
    if (footprint > stats.peak_footprint) stats.peak_footprint = footprint;
  }
  void give(void* p, size_t size) {
    std::lock_guard<std::mutex> lock(mu);
    stats.bytes_in_use -= size;
    stats.bytes_cached += size;
    free_blocks[size].push_back(p);
  }
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: tensors may outlive static destructors
  return *p;
}

}  // namespace

std::shared_ptr<void> pool_allocate(size_t bytes, void** data) {
  const auto [p, size] = pool().take(bucket_size(bytes == 0 ? 1 : bytes));
  *data = p;
  return std::shared_ptr<void>(p, [size = size](void* q) { pool().give(q, size); });
}

std::shared_ptr<void> system_allocate(size_t bytes, void** data) {
  constexpr size_t kMapAbove = 256 * 1024;
  if (bytes < kMapAbove) {
    void* p = std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    *data = p;
    return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  *data = p;
  return std::shared_ptr<void>(p, [bytes](void* q) { ::munmap(q, bytes); });
}

PoolStats pool_stats() {
  std::lock_guard<std::mutex> lock(pool().mu);
  return pool().stats;
}

void pool_reset_peak() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  p.stats.peak_in_use = p.stats.bytes_in_use;
  p.stats.peak_footprint = p.stats.bytes_in_use + p.stats.bytes_cached;
}

void pool_trim() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  for (auto& [size, blocks] : p.free_blocks) {
    for (void* b : blocks) std::free(b);
    p.stats.bytes_cached -= size * blocks.size();
    blocks.clear();
  }
  // Blocks under glibc's mmap threshold were freed into its heap; hand those pages back too,
  // or released models (the encoders) would stay resident.
  malloc_trim(0);
}

}  // namespace ipa
