// Process-wide cache of 64-byte aligned memory blocks. Tensors release their block here
// instead of to the system, so the next call of the same model reuses it: no page faults and
// no allocator work in the steady state. Blocks are bucketed by size rounded up to 4 KiB
// (small) or 1/8 of the power of two (large), so near-equal sizes share buckets. A request
// whose bucket has no free block takes a free block of up to twice its size before asking the
// system for memory: the pool's footprint (blocks in use + cached) then grows only when no
// cached block fits, instead of by every size a model's calls pass through.
#pragma once
#include <cstddef>
#include <memory>

namespace ipa {

// Returns an owner whose destructor gives the block back to the pool.
std::shared_ptr<void> pool_allocate(size_t bytes, void** data);

// Outside the pool: 64-byte aligned memory that goes straight back to the system when the owner
// is destroyed (large blocks are their own mappings, so no heap fragment stays resident).
std::shared_ptr<void> system_allocate(size_t bytes, void** data);

struct PoolStats {
  size_t bytes_in_use = 0;  // held by live tensors (whole blocks)
  size_t bytes_cached = 0;  // free, kept for reuse
  size_t peak_in_use = 0;
  size_t peak_footprint = 0;  // high-water mark of in use + cached: what the pool holds
};
PoolStats pool_stats();
// Returns every cached (free) block to the system, e.g. after releasing the encoders.
void pool_trim();
// Restarts peak_in_use and peak_footprint from the current values (benchmarks measuring one
// phase).
void pool_reset_peak();

}  // namespace ipa
