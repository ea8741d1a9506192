#include "ops/cuda/cuda_allocator.h"

#include <bit>
#include <string>

#include "base/error.h"
#include "ops/cuda/cuda_check.h"

namespace ipa::ops::cuda {

namespace {
std::string mib(size_t bytes) {
  return std::to_string((bytes + (1u << 19)) >> 20) + " MiB";
}
}  // namespace

size_t CachingAllocator::bucket_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t{1} << 20;
  if (bytes <= kLarge) return (bytes + kSmall - 1) / kSmall * kSmall;
  const size_t step = std::bit_floor(bytes) / 8;
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t bytes) {
  if (bytes == 0) bytes = 1;
  const size_t size = bucket_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  void* p = nullptr;
  auto it = free_.find(size);
  if (it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    stats_.cached -= size;
  } else {
    check(cudaSetDevice(device_), "allocate", "cudaSetDevice");
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // clear the sticky-free error before retrying
      free_cached_locked();      // give the cache back, then try once more
      e = cudaMalloc(&p, size);
    }
    check(e, "allocate", "cudaMalloc", [&] {
      size_t free_b = 0, total_b = 0;
      (void)cudaMemGetInfo(&free_b, &total_b);
      return mib(size) + " on cuda:" + std::to_string(device_) + ", " + mib(stats_.in_use) +
             " in use by tensors, " + mib(free_b) + " free of " + mib(total_b);
    });
    ++stats_.mallocs;
  }
  stats_.in_use += size;
  if (stats_.in_use > stats_.peak_in_use) stats_.peak_in_use = stats_.in_use;
  return p;
}

void CachingAllocator::release(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  if (bytes == 0) bytes = 1;
  const size_t size = bucket_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  free_[size].push_back(ptr);
  stats_.in_use -= size;
  stats_.cached += size;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_in_use = stats_.in_use;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  free_cached_locked();
}

void CachingAllocator::free_cached_locked() {
  check(cudaSetDevice(device_), "allocator", "cudaSetDevice");
  // Queued kernels may still use blocks released to the cache: wait before freeing them.
  check(cudaStreamSynchronize(stream_), "allocator", "cudaStreamSynchronize");
  for (auto& [size, blocks] : free_) {
    for (void* p : blocks) check(cudaFree(p), "allocator", "cudaFree");
    stats_.cached -= size * blocks.size();
    blocks.clear();
  }
  free_.clear();
}

}  // namespace ipa::ops::cuda
