#include "ops/cuda/cuda_memory.h"

#include <cstring>
#include <string>

#include "ops/cuda/copy_convert.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_context.h"

namespace ipa::ops::cuda {

namespace {
std::string bytes_on(size_t bytes, Device device) {
  return std::to_string(bytes) + " bytes on " + device.name();
}
}  // namespace

void* CudaMemory::allocate(Device device, size_t bytes) {
  return context(device).allocator->allocate(bytes);
}

void CudaMemory::release(Device device, void* ptr, size_t bytes) {
  // Called from tensor destructors: never throw from here.
  try {
    context(device).allocator->release(ptr, bytes);
  } catch (...) {
  }
}

void CudaMemory::upload(Device device, void* dst, const void* host_src, size_t bytes) {
  Context& c = context(device);
  auto detail = [&] { return bytes_on(bytes, device); };
  if (bytes <= Context::kStagingSlotBytes) {
    std::lock_guard<std::mutex> lock(c.staging_mu);
    const int slot = c.next_slot;
    c.next_slot = (slot + 1) % Context::kStagingSlots;
    char* buf = static_cast<char*>(c.staging) + slot * Context::kStagingSlotBytes;
    // The slot's previous copy must have left it (long done, unless the ring went round fast).
    check(cudaEventSynchronize(c.staging_done[slot]), "upload", "cudaEventSynchronize", detail);
    std::memcpy(buf, host_src, bytes);
    check(cudaMemcpyAsync(dst, buf, bytes, cudaMemcpyHostToDevice, c.stream), "upload",
          "cudaMemcpyAsync", detail);
    check(cudaEventRecord(c.staging_done[slot], c.stream), "upload", "cudaEventRecord", detail);
    return;
  }
  check(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, c.stream), "upload",
        "cudaMemcpyAsync", detail);
}

void CudaMemory::download(Device device, void* host_dst, const void* src, size_t bytes) {
  Context& c = context(device);
  auto detail = [&] { return bytes_on(bytes, device); };
  check(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, c.stream), "download",
        "cudaMemcpyAsync", detail);
  check(cudaStreamSynchronize(c.stream), "download", "cudaStreamSynchronize", detail);
}

void CudaMemory::fill_zero(Device device, void* dst, size_t bytes) {
  Context& c = context(device);
  check(cudaMemsetAsync(dst, 0, bytes, c.stream), "fill_zero", "cudaMemsetAsync",
        [&] { return bytes_on(bytes, device); });
}

void CudaMemory::copy_convert(Device device, void* dst, DType dst_dtype, const void* src,
                              DType src_dtype, const int64_t* shape, const int64_t* src_strides,
                              int rank) {
  Context& c = context(device);
  cuda::copy_convert(c.stream, dst, dst_dtype, src, src_dtype, shape, src_strides, rank);
}

}  // namespace ipa::ops::cuda
