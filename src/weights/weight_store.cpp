#include "weights/weight_store.h"

#include <cstring>

#include "base/mapped_file.h"

namespace ipa {

void WeightStore::add_file(const std::string& path, const std::string& prefix) {
  add_tensors(load_tensor_file(path), prefix);
  if (label_.empty()) label_ = path;
}

void WeightStore::add_tensors(const TensorFile& file, const std::string& prefix) {
  for (const auto& nt : file.tensors) add(prefix + nt.name, nt.tensor, file.path);
}

void WeightStore::add(const std::string& name, const Tensor& tensor, const std::string& source) {
  auto [it, inserted] = entries_.emplace(name, Entry{tensor, source});
  if (!inserted) {
    throw Error("duplicate tensor name (also in " + it->second.source + ")", source, name);
  }
}

bool WeightStore::has(const std::string& name) const {
  return entries_.count(name) != 0;
}

const WeightStore::Entry& WeightStore::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw Error("missing weight", label_, name);
  used_.insert(name);
  return it->second;
}

Tensor WeightStore::get(const std::string& name) const {
  return entry(name).tensor;
}

Tensor WeightStore::absent(const std::string& name, const Shape& /*expected*/) const {
  throw Error("missing weight", label_, name);
}

void WeightStore::set_layer_dtype(DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16) {
    throw Error(std::string("layers compute in F32 or BF16, not ") + dtype_name(dtype), label_);
  }
  layer_dtype_ = dtype;
}

Tensor WeightStore::get(const std::string& name, const Shape& expected) const {
  if (!has(name)) {
    Tensor t = absent(name, expected);
    if (t.shape() != expected) throw Error::shape_mismatch(label_, name, expected, t.shape());
    return t;
  }
  const Entry& e = entry(name);
  if (e.tensor.shape() != expected)
    throw Error::shape_mismatch(e.source, name, expected, e.tensor.shape());
  return e.tensor;
}

Tensor WeightStore::get_f32(const std::string& name, const Shape& expected) const {
  return get_float(name, expected, DType::F32);
}

Tensor WeightStore::get_float(const std::string& name, const Shape& expected, DType target) const {
  const Tensor host = host_float(name, expected, target);
  return device_.is_cpu() ? host : host.to(device_);  // one upload, at load
}

Tensor WeightStore::host_float(const std::string& name, const Shape& expected, DType target) const {
  if (target != DType::F32 && target != DType::BF16) {
    throw Error(std::string("weights can be read as F32 or BF16, not ") + dtype_name(target),
                label_, name);
  }
  Tensor t = expected.empty() ? get(name) : get(name, expected);
  const DType dt = t.dtype();
  if (dt != DType::F32 && dt != DType::F16 && dt != DType::BF16) {
    throw Error(std::string("expected a floating-point tensor, got ") + dtype_name(dt),
                source_of(name), name);
  }
  // Model lifetime, so outside the block pool; F16 → BF16 goes through F32 (exact).
  constexpr auto kSystem = Tensor::Alloc::kSystem;
  const auto updates = updates_.find(name);
  Tensor converted;
  if (updates != updates_.end()) {
    // A writable F32 copy (an F32 file's tensor is a read-only view), the updates summed into
    // it, then the compute format.
    Tensor merged;
    if (dt == DType::F32) {
      merged = Tensor::empty(t.shape(), DType::F32, kSystem);
      std::memcpy(merged.raw_mutable(), t.contiguous().raw(), t.nbytes());
    } else {
      merged = t.to(DType::F32, kSystem);
    }
    for (const auto& u : updates->second) u->add_to(merged);
    converted = target == DType::F32 ? merged : merged.to(target, kSystem);
  } else if (dt == target) {
    return t.contiguous();
  } else {
    converted = target == DType::F32 || dt == DType::F32
                    ? t.to(target, kSystem)
                    : t.to(DType::F32, kSystem).to(target, kSystem);
  }
  // The file's pages are not needed again: let them go now rather than when the whole file
  // closes, so loading a model holds ~1 copy of it instead of 1.5.
  if (t.is_contiguous()) MappedFile::release_pages(t.raw(), t.nbytes());
  return converted;
}

void WeightStore::add_update(const std::string& name, std::shared_ptr<const WeightUpdate> update) {
  if (!has(name)) throw Error("an update for a missing weight", label_, name);
  updates_[name].push_back(std::move(update));
}

std::vector<std::string> WeightStore::updated_keys() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : updates_) out.push_back(k);
  return out;
}

Shape WeightStore::shape_of(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw Error("missing weight", label_, name);
  return it->second.tensor.shape();
}

const std::string& WeightStore::source_of(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw Error("missing weight", label_, name);
  return it->second.source;
}

WeightScope WeightStore::scope(const std::string& prefix) const {
  return {this, prefix};
}

std::vector<std::string> WeightStore::keys() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : entries_) out.push_back(k);
  return out;
}

std::vector<std::string> WeightStore::keys_with_prefix(const std::string& prefix) const {
  std::vector<std::string> out;
  for (auto it = entries_.lower_bound(prefix); it != entries_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.push_back(it->first);
  }
  return out;
}

std::vector<std::string> WeightStore::unused_keys() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : entries_) {
    if (!used_.count(k)) out.push_back(k);
  }
  return out;
}

std::vector<std::string> WeightStore::missing(const std::vector<std::string>& wanted) const {
  std::vector<std::string> out;
  for (const auto& w : wanted) {
    if (!has(w)) out.push_back(w);
  }
  return out;
}

}  // namespace ipa
