// Tensor: shape, strides (in elements), dtype, device and a shared storage.
// Host storage is either owned memory from the block pool (reused between calls, so a model's
// intermediate tensors cost no fresh page faults after the first step) or a read-only view
// into memory someone else keeps alive (a memory-mapped checkpoint). Device storage (a GPU)
// comes from the device's DeviceMemory (tensor/device.h); views work the same on every device,
// host element access (data<T>(), raw(), item_f32) only on the host — to_floats() and
// to(Device) copy.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "tensor/device.h"
#include "tensor/dtype.h"

namespace ipa {

using Shape = std::vector<int64_t>;

class Tensor {
 public:
  Tensor() = default;

  // Where new memory comes from: the block pool (activations: reused between calls) or the
  // system (long-lived weights: given back to the system when released, where the pool would
  // keep the block cached for a reuse that never comes).
  enum class Alloc { kPool, kSystem };
  // Uninitialised, contiguous, 64-byte aligned memory.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Alloc alloc = Alloc::kPool);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  // Uninitialised / zeroed contiguous memory on `device` (the host's pool for Device{}).
  static Tensor empty_on(Device device, const Shape& shape, DType dtype = DType::F32);
  static Tensor zeros_on(Device device, const Shape& shape, DType dtype = DType::F32);
  static Tensor full(const Shape& shape, float value);
  // Copies `data` (numel(shape) floats).
  static Tensor from_floats(const Shape& shape, const float* data);
  static Tensor from_vector(const Shape& shape, const std::vector<float>& data);
  // A read-only view of external memory; `owner` keeps it alive. Strides in elements
  // (empty = contiguous).
  static Tensor view_of(std::shared_ptr<const void> owner, const void* data, const Shape& shape,
                        DType dtype, const Shape& strides = {});

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool on_host() const { return device_.is_cpu(); }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;
  bool read_only() const { return read_only_; }

  // Pointer to the first element; checks the dtype. Views of memory-mapped files are read-only
  // (writing through them faults): code that writes into a tensor it did not create calls
  // raw_mutable(), which refuses such views.
  template <typename T>
  T* data();
  template <typename T>
  const T* data() const;
  const void* raw() const;  // host tensors only
  void* raw_mutable();
  // The first element's address on the tensor's device, for backends (a device pointer for
  // device tensors; no dtype or read-only check).
  const void* device_data() const { return ptr_; }
  void* device_data_mutable() { return ptr_; }

  // Views (share storage).
  Tensor reshape(const Shape& shape) const;  // -1 allowed once; copies when not contiguous
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops `dim`
  Tensor unsqueeze(int64_t dim) const;

  // Copies.
  Tensor contiguous() const;  // returns *this when already contiguous
  Tensor clone() const;       // always a fresh, writable, contiguous copy
  // Contiguous copy in another dtype (returns contiguous() when the dtype is the same).
  Tensor to(DType dtype, Alloc alloc = Alloc::kPool) const;
  // Contiguous copy on another device (returns contiguous() when already there).
  Tensor to(Device device) const;

  // Element access for tests and small glue code (any dtype, honours strides). item_f32 on the
  // host only; to_floats() copies a device tensor to the host first.
  float item_f32(const std::vector<int64_t>& index) const;
  std::vector<float> to_floats() const;  // row-major copy as float

  std::string describe() const;  // "F32[2, 3]", "F32[2, 3] on cuda:0" off the host

  // Used by data<T>(): pointer after checking that T matches the dtype.
  const void* raw_checked(DType want) const;
  void* raw_mutable_checked(DType want);

 private:
  std::shared_ptr<const void> storage_;  // keeps memory alive
  void* ptr_ = nullptr;
  Shape shape_, strides_;
  DType dtype_ = DType::F32;
  Device device_;
  bool read_only_ = false;
};

int64_t numel_of(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::F32;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::I64;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::I32;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::U8;
}
template <>
constexpr DType dtype_of<uint16_t>() {
  return DType::F16;
}  // also BF16, see data()

template <typename T>
T* Tensor::data() {
  return static_cast<T*>(raw_mutable_checked(dtype_of<T>()));
}
template <typename T>
const T* Tensor::data() const {
  return static_cast<const T*>(raw_checked(dtype_of<T>()));
}

}  // namespace ipa
