// A caching allocator for one GPU: freed blocks go to a free list of their size bucket and are
// handed out again for the next request of that bucket; cudaMalloc runs only on a miss (it
// synchronises the device and costs far more than a kernel). All work of a device runs on its
// one stream (cuda_context.h), so a block released while kernels that use it are still queued
// is safe to hand out again: the next user's work is queued after them.
#pragma once
#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

#include <cuda_runtime_api.h>

namespace ipa::ops::cuda {

struct AllocatorStats {
  size_t in_use = 0;       // bytes handed out (bucket sizes) and not yet released
  size_t peak_in_use = 0;  // the most in_use since the last reset_peak()
  size_t cached = 0;       // bytes on the free lists
  size_t mallocs = 0;      // cudaMalloc calls (misses)
};

class CachingAllocator {
 public:
  CachingAllocator(int device, cudaStream_t stream) : device_(device), stream_(stream) {}
  // Never null for bytes > 0; throws ipa::Error naming the size and the stats when the GPU is
  // out of memory even after the cache was given back.
  void* allocate(size_t bytes);
  void release(void* ptr, size_t bytes);
  AllocatorStats stats() const;
  void reset_peak();
  // Waits for the stream and gives every cached block back to the driver.
  void empty_cache();
  // The size a request of `bytes` really takes: 512-byte steps up to 1 MiB, then steps of an
  // eighth of the power of two below (at most 12.5 % waste, and same-shaped tensors share a
  // bucket).
  static size_t bucket_size(size_t bytes);

 private:
  void free_cached_locked();
  int device_;
  cudaStream_t stream_;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;  // bucket size → blocks
  AllocatorStats stats_;
};

}  // namespace ipa::ops::cuda
