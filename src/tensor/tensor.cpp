#include "tensor/tensor.h"

#include <cstring>
#include <numeric>

#include "tensor/block_pool.h"
#include "tensor/half.h"

namespace ipa {

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

namespace {

int64_t wrap_dim(int64_t d, int64_t rank, const char* what) {
  if (d < 0) d += rank;
  if (d < 0 || d >= rank) {
    throw Error(std::string(what) + ": dimension " + std::to_string(d) + " out of range for rank " +
                std::to_string(rank));
  }
  return d;
}

float load_as_float(const void* base, int64_t offset, DType t) {
  switch (t) {
    case DType::F32:
      return static_cast<const float*>(base)[offset];
    case DType::F16:
      return f16_to_f32(static_cast<const uint16_t*>(base)[offset]);
    case DType::BF16:
      return bf16_to_f32(static_cast<const uint16_t*>(base)[offset]);
    case DType::I64:
      return static_cast<float>(static_cast<const int64_t*>(base)[offset]);
    case DType::I32:
      return static_cast<float>(static_cast<const int32_t*>(base)[offset]);
    case DType::U8:
      return static_cast<float>(static_cast<const uint8_t*>(base)[offset]);
    case DType::Bool:
      return static_cast<const uint8_t*>(base)[offset] ? 1.f : 0.f;
  }
  return 0.f;
}

double load_as_double(const void* base, size_t i, DType t) {
  if (t == DType::I64) return static_cast<double>(static_cast<const int64_t*>(base)[i]);
  return load_as_float(base, static_cast<int64_t>(i), t);
}

void store_from_double(void* base, size_t i, DType t, double v) {
  switch (t) {
    case DType::F32:
      static_cast<float*>(base)[i] = static_cast<float>(v);
      break;
    case DType::F16:
      static_cast<uint16_t*>(base)[i] = f32_to_f16(static_cast<float>(v));
      break;
    case DType::BF16:
      static_cast<uint16_t*>(base)[i] = f32_to_bf16(static_cast<float>(v));
      break;
    case DType::I64:
      static_cast<int64_t*>(base)[i] = static_cast<int64_t>(v);
      break;
    case DType::I32:
      static_cast<int32_t*>(base)[i] = static_cast<int32_t>(v);
      break;
    case DType::U8:
      static_cast<uint8_t*>(base)[i] = static_cast<uint8_t>(v);
      break;
    case DType::Bool:
      static_cast<uint8_t*>(base)[i] = v != 0.0;
      break;
  }
}

// Calls fn(src_offset_in_elements, dst_index) for every element in row-major order.
template <typename Fn>
void for_each_offset(const Shape& shape, const Shape& strides, Fn fn) {
  const int64_t n = numel_of(shape);
  if (n == 0) return;
  const size_t rank = shape.size();
  std::vector<int64_t> idx(rank, 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    fn(off, i);
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Alloc alloc) {
  for (int64_t s : shape) {
    if (s < 0) throw Error("negative dimension in shape " + shape_str(shape));
  }
  Tensor t;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  t.storage_ = alloc == Alloc::kPool ? pool_allocate(t.nbytes(), &t.ptr_)
                                     : system_allocate(t.nbytes(), &t.ptr_);
  return t;
}

Tensor Tensor::empty_on(Device device, const Shape& shape, DType dtype) {
  if (device.is_cpu()) return empty(shape, dtype);
  for (int64_t s : shape) {
    if (s < 0) throw Error("negative dimension in shape " + shape_str(shape));
  }
  DeviceMemory& memory = device_memory(device);
  Tensor t;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  const size_t bytes = t.nbytes();
  t.ptr_ = bytes == 0 ? nullptr : memory.allocate(device, bytes);
  t.storage_ = std::shared_ptr<const void>(t.ptr_, [&memory, device, bytes](const void* p) {
    if (p != nullptr) memory.release(device, const_cast<void*>(p), bytes);
  });
  return t;
}

Tensor Tensor::zeros_on(Device device, const Shape& shape, DType dtype) {
  if (device.is_cpu()) return zeros(shape, dtype);
  Tensor t = empty_on(device, shape, dtype);
  if (t.nbytes() > 0) device_memory(device).fill_zero(device, t.ptr_, t.nbytes());
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.ptr_, 0, t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape, DType::F32);
  float* p = t.data<float>();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = value;
  return t;
}

Tensor Tensor::from_floats(const Shape& shape, const float* data) {
  Tensor t = empty(shape, DType::F32);
  std::memcpy(t.ptr_, data, t.nbytes());
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& data) {
  if (static_cast<int64_t>(data.size()) != numel_of(shape)) {
    throw Error("from_vector: " + std::to_string(data.size()) + " values for shape " +
                shape_str(shape));
  }
  return from_floats(shape, data.data());
}

Tensor Tensor::view_of(std::shared_ptr<const void> owner, const void* data, const Shape& shape,
                       DType dtype, const Shape& strides) {
  Tensor t;
  t.storage_ = owner ? std::move(owner) : std::shared_ptr<const void>(data, [](const void*) {});
  t.ptr_ = const_cast<void*>(data);
  t.shape_ = shape;
  t.strides_ = strides.empty() ? contiguous_strides(shape) : strides;
  t.dtype_ = dtype;
  t.read_only_ = true;
  return t;
}

int64_t Tensor::size(int64_t d) const {
  return shape_[wrap_dim(d, dim(), "size")];
}

int64_t Tensor::numel() const {
  return numel_of(shape_);
}

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] != 1 && strides_[i] != acc) return false;
    acc *= shape_[i];
  }
  return true;
}

namespace {
void require_host(const Tensor& t, const char* what) {
  if (!t.on_host()) {
    throw Error(std::string(what) + " of " + t.describe() +
                ": host access to a device tensor (copy it with to(Device{}) first)");
  }
}
}  // namespace

const void* Tensor::raw() const {
  require_host(*this, "raw()");
  return ptr_;
}

const void* Tensor::raw_checked(DType want) const {
  require_host(*this, "data()");
  const bool ok = want == dtype_ || (want == DType::F16 && dtype_ == DType::BF16) ||
                  (want == DType::U8 && dtype_ == DType::Bool);
  if (!ok) {
    throw Error(std::string("tensor holds ") + dtype_name(dtype_) + ", accessed as " +
                dtype_name(want));
  }
  return ptr_;
}

void* Tensor::raw_mutable_checked(DType want) {
  // No read-only check here: `data<T>()` on a non-const handle is the common way to *read*
  // (e.g. a local copy of a weight view). Writers that may see views use raw_mutable().
  return const_cast<void*>(raw_checked(want));
}

void* Tensor::raw_mutable() {
  require_host(*this, "raw_mutable()");
  if (read_only_) throw Error("write access to a read-only tensor view " + describe());
  return ptr_;
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw Error("reshape: more than one -1 in " + shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) s[infer] = known == 0 ? 0 : numel() / known;
  if (numel_of(s) != numel()) {
    throw Error("reshape: cannot view " + describe() + " as " + shape_str(shape));
  }
  Tensor base = is_contiguous() ? *this : contiguous();
  base.shape_ = s;
  base.strides_ = contiguous_strides(s);
  return base;
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  if (static_cast<int64_t>(dims.size()) != dim()) throw Error("permute: wrong number of dims");
  Tensor t = *this;
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = wrap_dim(dims[i], dim(), "permute");
    if (seen[d]) throw Error("permute: repeated dimension");
    seen[d] = true;
    t.shape_[i] = shape_[d];
    t.strides_[i] = strides_[d];
  }
  return t;
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  std::vector<int64_t> dims(shape_.size());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim(a, dim(), "transpose")], dims[wrap_dim(b, dim(), "transpose")]);
  return permute(dims);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  if (start < 0 || length < 0 || start + length > shape_[d]) {
    throw Error("narrow: range [" + std::to_string(start) + ", " + std::to_string(start + length) +
                ") outside dimension of size " + std::to_string(shape_[d]));
  }
  Tensor t = *this;
  t.ptr_ = static_cast<uint8_t*>(ptr_) + start * strides_[d] * dtype_size(dtype_);
  t.shape_[d] = length;
  return t;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  if (index < 0) index += shape_[d];
  Tensor t = narrow(d, index, 1);
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  if (d < 0) d += dim() + 1;
  if (d < 0 || d > dim()) throw Error("unsqueeze: dimension out of range");
  Tensor t = *this;
  const int64_t stride = d < dim() ? strides_[d] * shape_[d] : 1;
  t.shape_.insert(t.shape_.begin() + d, 1);
  t.strides_.insert(t.strides_.begin() + d, stride);
  return t;
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

namespace {
// A contiguous copy of `t` (on its device) in `dtype`.
Tensor device_copy(const Tensor& t, DType dtype) {
  Tensor out = Tensor::empty_on(t.device(), t.shape(), dtype);
  if (t.numel() > 0) {
    device_memory(t.device())
        .copy_convert(t.device(), out.device_data_mutable(), dtype, t.device_data(), t.dtype(),
                      t.shape().data(), t.strides().data(), static_cast<int>(t.dim()));
  }
  return out;
}
}  // namespace

Tensor Tensor::to(Device device) const {
  if (device == device_) return contiguous();
  if (!on_host() && !device.is_cpu()) return to(Device{}).to(device);
  if (on_host()) {
    const Tensor src = contiguous();
    Tensor out = empty_on(device, shape_, dtype_);
    if (nbytes() > 0) device_memory(device).upload(device, out.ptr_, src.ptr_, nbytes());
    return out;
  }
  const Tensor src = contiguous();
  Tensor out = empty(shape_, dtype_);
  if (nbytes() > 0) device_memory(device_).download(device_, out.ptr_, src.ptr_, nbytes());
  return out;
}

Tensor Tensor::clone() const {
  if (!on_host()) return device_copy(*this, dtype_);
  Tensor out = empty(shape_, dtype_);
  const size_t es = dtype_size(dtype_);
  if (is_contiguous()) {
    std::memcpy(out.ptr_, ptr_, nbytes());
    return out;
  }
  const uint8_t* src = static_cast<const uint8_t*>(ptr_);
  uint8_t* dst = static_cast<uint8_t*>(out.ptr_);
  for_each_offset(shape_, strides_,
                  [&](int64_t off, int64_t i) { std::memcpy(dst + i * es, src + off * es, es); });
  return out;
}

Tensor Tensor::to(DType target, Alloc alloc) const {
  if (target == dtype_) return contiguous();
  if (!on_host()) return device_copy(*this, target);
  Tensor src = contiguous();
  Tensor out = empty(shape_, target, alloc);
  const size_t n = static_cast<size_t>(numel());
  if (target == DType::F32 && dtype_ == DType::F16) {
    f16_to_f32(static_cast<const uint16_t*>(src.ptr_), static_cast<float*>(out.ptr_), n);
  } else if (target == DType::F32 && dtype_ == DType::BF16) {
    bf16_to_f32(static_cast<const uint16_t*>(src.ptr_), static_cast<float*>(out.ptr_), n);
  } else if (target == DType::F16 && dtype_ == DType::F32) {
    f32_to_f16(static_cast<const float*>(src.ptr_), static_cast<uint16_t*>(out.ptr_), n);
  } else if (target == DType::BF16 && dtype_ == DType::F32) {
    f32_to_bf16(static_cast<const float*>(src.ptr_), static_cast<uint16_t*>(out.ptr_), n);
  } else {
    // Remaining pairs involve integers or bool; int64 values travel exactly through double.
    for (size_t i = 0; i < n; ++i)
      store_from_double(out.ptr_, i, target, load_as_double(src.ptr_, i, dtype_));
  }
  return out;
}

float Tensor::item_f32(const std::vector<int64_t>& index) const {
  require_host(*this, "item_f32()");
  if (static_cast<int64_t>(index.size()) != dim()) throw Error("item_f32: wrong index rank");
  int64_t off = 0;
  for (size_t i = 0; i < index.size(); ++i) {
    if (index[i] < 0 || index[i] >= shape_[i]) throw Error("item_f32: index out of range");
    off += index[i] * strides_[i];
  }
  return load_as_float(ptr_, off, dtype_);
}

std::vector<float> Tensor::to_floats() const {
  if (!on_host()) return to(Device{}).to_floats();
  std::vector<float> out(static_cast<size_t>(numel()));
  for_each_offset(shape_, strides_,
                  [&](int64_t off, int64_t i) { out[i] = load_as_float(ptr_, off, dtype_); });
  return out;
}

std::string Tensor::describe() const {
  std::string s = std::string(dtype_name(dtype_)) + shape_str(shape_);
  if (!on_host()) s += " on " + device_.name();
  return s;
}

}  // namespace ipa
