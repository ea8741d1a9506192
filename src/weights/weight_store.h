// WeightStore: one name → tensor view over any number of checkpoint files, with scoped
// look-ups, shape checks that name file/key/expected/actual, and a report of unused keys.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "formats/tensor_file.h"

namespace ipa {

class WeightScope;

// Something added to a weight as the store converts it for a model: a LoRA's low-rank product
// (pipeline/lora.h). Implemented above this layer, which has no matrix product.
class WeightUpdate {
 public:
  virtual ~WeightUpdate() = default;
  // `weight`: F32, contiguous, writable, the stored tensor's shape.
  virtual void add_to(Tensor& weight) const = 0;
};

class WeightStore {
 public:
  WeightStore() = default;
  virtual ~WeightStore() = default;
  WeightStore(WeightStore&&) = default;
  WeightStore& operator=(WeightStore&&) = default;
  // Adds every tensor of a file (any supported format); `prefix` is prepended to names.
  void add_file(const std::string& path, const std::string& prefix = "");
  void add_tensors(const TensorFile& file, const std::string& prefix = "");
  void add(const std::string& name, const Tensor& tensor, const std::string& source);

  bool has(const std::string& name) const;
  // The stored tensor as it is in the file (any dtype, possibly a read-only view).
  Tensor get(const std::string& name) const;
  // Same, after checking the shape.
  Tensor get(const std::string& name, const Shape& expected) const;
  // Converted to contiguous F32 (a copy unless it already is F32), shape-checked when given.
  Tensor get_f32(const std::string& name, const Shape& expected = {}) const;
  // Converted to contiguous `target`, F32 or BF16 (a model's compute format), likewise, on
  // the store's device (set_device). The
  // updates added for `name` are summed into it in F32 first, before the conversion to the
  // compute format (so before any packing): a merged weight is W + Σ updates.
  Tensor get_float(const std::string& name, const Shape& expected, DType target) const;
  // Shape of a stored tensor (throws when missing).
  Shape shape_of(const std::string& name) const;
  const std::string& source_of(const std::string& name) const;

  WeightScope scope(const std::string& prefix) const;

  std::vector<std::string> keys() const;  // sorted
  std::vector<std::string> keys_with_prefix(const std::string& prefix) const;
  // Keys never fetched through get*/has-then-get; for "loaded but ignored" reports.
  std::vector<std::string> unused_keys() const;
  // Names from `wanted` that are absent.
  std::vector<std::string> missing(const std::vector<std::string>& wanted) const;
  size_t size() const { return entries_.size(); }
  // A label for error messages when a name is missing (usually the folder or file).
  void set_label(const std::string& label) { label_ = label; }
  const std::string& label() const { return label_; }

  // Adds `update` to the weight `name` (which must exist) whenever get_float / get_f32 converts
  // it; several updates of one weight are summed in the order given.
  void add_update(const std::string& name, std::shared_ptr<const WeightUpdate> update);
  // Names that have updates, sorted.
  std::vector<std::string> updated_keys() const;

  // The dtype linear and convolution layers built from this store keep their weights in, and
  // so compute in: F32 (default) or BF16 (the model's ComputeOptions::precision).
  void set_layer_dtype(DType dtype);
  DType layer_dtype() const { return layer_dtype_; }
  // The device the models built from this store compute on (ComputeOptions::device):
  // get_f32 / get_float convert (and merge updates) on the host, then upload the result there
  // once, so the models hold device weights. get() stays the host view of the file.
  void set_device(Device device) { device_ = device; }
  Device device() const { return device_; }

 protected:
  // get(name, shape) of a name the store lacks: throws "missing weight" naming it. A store
  // that makes weights up (benchmarks on random weights) overrides this.
  virtual Tensor absent(const std::string& name, const Shape& expected) const;

 private:
  struct Entry {
    Tensor tensor;
    std::string source;
  };
  const Entry& entry(const std::string& name) const;
  Tensor host_float(const std::string& name, const Shape& expected, DType target) const;
  std::map<std::string, Entry> entries_;
  mutable std::set<std::string> used_;
  std::map<std::string, std::vector<std::shared_ptr<const WeightUpdate>>> updates_;
  std::string label_;
  DType layer_dtype_ = DType::F32;
  Device device_;
};

// A view of a store under "prefix." — models ask for weights by their own relative names.
class WeightScope {
 public:
  WeightScope(const WeightStore* store, std::string prefix)
      : store_(store), prefix_(std::move(prefix)) {}
  WeightScope scope(const std::string& sub) const { return {store_, join(sub)}; }
  bool has(const std::string& name) const { return store_->has(join(name)); }
  Tensor get(const std::string& name) const { return store_->get(join(name)); }
  Tensor get(const std::string& name, const Shape& s) const { return store_->get(join(name), s); }
  Tensor get_f32(const std::string& name, const Shape& s = {}) const {
    return store_->get_f32(join(name), s);
  }
  Tensor get_float(const std::string& name, const Shape& s, DType target) const {
    return store_->get_float(join(name), s, target);
  }
  Shape shape_of(const std::string& name) const { return store_->shape_of(join(name)); }
  std::string join(const std::string& name) const {
    return prefix_.empty() ? name : (name.empty() ? prefix_ : prefix_ + "." + name);
  }
  const std::string& prefix() const { return prefix_; }
  const WeightStore& store() const { return *store_; }

 private:
  const WeightStore* store_;
  std::string prefix_;
};

}  // namespace ipa
