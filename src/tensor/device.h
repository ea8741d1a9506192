// Where a tensor's memory lives: the host (CPU) or a device that a compute backend owns (a CUDA
// GPU; an "emulated" device in tests, host memory that only its backend may touch, so the
// pipeline's device plumbing is tested on machines without a GPU).
//
// The tensor layer knows devices only through DeviceMemory, registered by the backend that
// owns the device (src/ops/cuda, tests/support): it allocates, copies between host and device
// and makes strided / converted copies, which is all Tensor needs for views, contiguous(),
// clone() and to(dtype) on a device.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "tensor/dtype.h"

namespace ipa {

enum class DeviceType { CPU, CUDA, Emulated };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool is_cpu() const { return type == DeviceType::CPU; }
  std::string name() const;  // "cpu", "cuda:0", "emulated:0"
  bool operator==(const Device&) const = default;
};

// "cpu", "cuda", "cuda:N" ("emulated[:N]" for tests); throws ipa::Error naming the text and
// what is accepted.
Device parse_device(std::string_view text);

// Memory of one device type; every call may throw ipa::Error (out of memory, a driver error).
class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  // Contiguous bytes on `device`, aligned for any dtype; the backend may cache and reuse
  // blocks (a caching allocator). Never returns null for bytes > 0.
  virtual void* allocate(Device device, size_t bytes) = 0;
  virtual void release(Device device, void* ptr, size_t bytes) = 0;
  virtual void upload(Device device, void* dst, const void* host_src, size_t bytes) = 0;
  virtual void download(Device device, void* host_dst, const void* src, size_t bytes) = 0;
  virtual void fill_zero(Device device, void* dst, size_t bytes) = 0;
  // dst (contiguous, dst_dtype) = the elements of src seen with `shape` / `src_strides`
  // (elements) in src_dtype, converted: float dtypes convert to each other (round to nearest
  // even), integer and bool dtypes are only copied to their own dtype.
  virtual void copy_convert(Device device, void* dst, DType dst_dtype, const void* src,
                            DType src_dtype, const int64_t* shape, const int64_t* src_strides,
                            int rank) = 0;
};

// Called once by the backend that owns the device type (before any tensor uses it).
void register_device_memory(DeviceType type, DeviceMemory* memory);
// The memory of `device`'s type; throws ipa::Error when no backend registered it (e.g. CUDA in a
// build without IPA_CUDA).
DeviceMemory& device_memory(Device device);
bool has_device_memory(DeviceType type);

}  // namespace ipa
