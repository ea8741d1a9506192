// DeviceMemory for DeviceType::CUDA (tensor/device.h): the caching allocator of each GPU's
// context, copies queued on its stream, copy_convert as a strided convert kernel.
#pragma once
#include "tensor/device.h"

namespace ipa::ops::cuda {

class CudaMemory final : public DeviceMemory {
 public:
  void* allocate(Device device, size_t bytes) override;
  void release(Device device, void* ptr, size_t bytes) override;
  // Small uploads (≤ 256 KiB) go through the context's pinned staging ring and return without
  // waiting;
  // large ones are sent from the caller's (pageable) memory, which the runtime copies before
  // returning, so `host_src` may be reused at once either way.
  void upload(Device device, void* dst, const void* host_src, size_t bytes) override;
  // Waits for the device's queued work, then copies (the caller reads the bytes next).
  void download(Device device, void* host_dst, const void* src, size_t bytes) override;
  void fill_zero(Device device, void* dst, size_t bytes) override;
  void copy_convert(Device device, void* dst, DType dst_dtype, const void* src, DType src_dtype,
                    const int64_t* shape, const int64_t* src_strides, int rank) override;
};

}  // namespace ipa::ops::cuda
