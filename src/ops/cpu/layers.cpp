#include "ops/layers.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "base/mapped_file.h"
#include "ops/cpu/conv2d_plan.h"
#include "ops/cpu/linear_impl.h"
#include "ops/profile.h"

namespace ipa::ops {

// ---- Linear -----------------------------------------------------------------------------

struct Linear::State {
  Shape weight_shape;
  DType dtype = DType::F32;
  Tensor bias;
  Tensor plain;                // device or empty weights, kept as given
  Device device;               // of the weights
  PackedLinearWeights packed;  // host weights, in oneDNN's layouts
};

Linear::Linear(Tensor weight, Tensor bias) : state_(std::make_shared<State>()) {
  const bool float_weight =
      weight.defined() && (weight.dtype() == DType::F32 || weight.dtype() == DType::BF16 ||
                           (weight.dtype() == DType::F16 && !weight.on_host()));
  if (!float_weight || weight.dim() != 2) {
    throw Error("Linear: weight must be F32 or BF16 [out, in], got " +
                (weight.defined() ? weight.describe() : std::string("undefined")));
  }
  if (bias.defined() &&
      (bias.dtype() != DType::F32 || bias.dim() != 1 || bias.size(0) != weight.size(0))) {
    throw Error("Linear: bias must be F32 [" + std::to_string(weight.size(0)) + "], got " +
                bias.describe());
  }
  state_->weight_shape = weight.shape();
  state_->dtype = weight.dtype();
  state_->device = weight.device();
  state_->bias = bias.defined() ? bias.contiguous() : Tensor();
  if (!state_->device.is_cpu() || weight.numel() == 0) {
    state_->plain = weight.contiguous();  // the backend computes; or nothing to pack
    return;
  }
  // Host weights are packed now, at load, and held once: the plain copy goes (its file pages
  // too, when it is a view of a checkpoint in the compute dtype).
  const Tensor plain = weight.contiguous();
  pack_linear_weights(plain, state_->packed);
  if (plain.read_only()) MappedFile::release_pages(plain.raw(), plain.nbytes());
}

Linear::State& Linear::state() const {
  if (!state_) throw Error("Linear: the layer is not defined (no weights were loaded)");
  return *state_;
}

int64_t Linear::in_features() const {
  return state().weight_shape[1];
}
int64_t Linear::out_features() const {
  return state().weight_shape[0];
}
DType Linear::dtype() const {
  return state().dtype;
}
const Tensor& Linear::bias() const {
  return state().bias;
}

Tensor Linear::weight() const {
  State& st = state();
  if (st.plain.defined()) return st.plain;
  return unpack_linear_weights(st.packed, st.weight_shape, st.dtype);
}

size_t Linear::weight_bytes() const {
  if (!state_) return 0;
  State& st = *state_;
  if (!st.device.is_cpu()) return st.plain.nbytes();
  size_t bytes = 0;
  std::lock_guard<std::mutex> cache_lock(st.packed.mu);
  for (const auto& [md, m] : st.packed.packed) bytes += m.get_desc().get_size();
  return bytes;
}

Tensor Linear::operator()(const Tensor& x, Activation act) const {
  State& st = state();
  if (!st.device.is_cpu()) return linear(x, st.plain, st.bias, act);
  return linear_impl(x, st.plain, st.weight_shape, st.dtype, st.bias, act, &st.packed);
}

// ---- Conv2d -----------------------------------------------------------------------------

struct Conv2d::Entry {
  cpu::ConvPlan plan;
  dnnl::memory weights;  // in plan.wei_md
};

struct Conv2d::State {
  Shape weight_shape;
  Tensor bias;
  Conv2dParams params;
  Precision precision = Precision::F32;  // of the weights: BF16 weights make bf16 convolutions
  std::mutex mu;
  Tensor plain;           // the constructor's weights, until `packed` replaces them
  Device device;          // of the weights; off the host the backend computes, no packing
  dnnl::memory packed;    // the first packed copy: the source of later layouts
  Tensor packed_storage;  // set when `packed` points into `plain` (layouts agreed)
  std::map<Shape, std::shared_ptr<const Entry>> plans;
};

Conv2d::Conv2d(Tensor weight, Tensor bias, Conv2dParams params)
    : state_(std::make_shared<State>()) {
  const bool float_weight =
      weight.defined() && (weight.dtype() == DType::F32 || weight.dtype() == DType::BF16 ||
                           (weight.dtype() == DType::F16 && !weight.on_host()));
  if (!float_weight || weight.dim() != 4) {
    throw Error("Conv2d: weight must be F32 or BF16 [out, in/groups, kh, kw], got " +
                (weight.defined() ? weight.describe() : std::string("undefined")));
  }
  state_->weight_shape = weight.shape();
  state_->precision = weight.dtype() == DType::BF16 ? Precision::BF16 : Precision::F32;
  state_->device = weight.device();
  state_->plain = weight.contiguous();
  state_->bias = bias.defined() ? bias.contiguous() : Tensor();
  state_->params = params;
}

const Shape& Conv2d::weight_shape() const {
  if (!state_) throw Error("Conv2d: the layer is not defined");
  return state_->weight_shape;
}

const Conv2dParams& Conv2d::params() const {
  if (!state_) throw Error("Conv2d: the layer is not defined");
  return state_->params;
}

size_t Conv2d::weight_bytes() const {
  if (!state_) return 0;
  std::lock_guard<std::mutex> lock(state_->mu);
  size_t bytes = 0;
  if (!state_->device.is_cpu()) return state_->plain.nbytes();
  std::vector<const void*> seen;  // plans may share one memory, or point into a tensor
  for (const Tensor* t : {&state_->plain, &state_->packed_storage}) {
    if (t->defined()) {
      bytes += t->nbytes();
      seen.push_back(t->raw());
    }
  }
  auto count = [&](const dnnl::memory& m) {
    if (!m) return;
    const void* h = m.get_data_handle();
    if (std::find(seen.begin(), seen.end(), h) != seen.end()) return;
    seen.push_back(h);
    bytes += m.get_desc().get_size();
  };
  count(state_->packed);
  for (const auto& [key, e] : state_->plans) count(e->weights);
  return bytes;
}

std::shared_ptr<const Conv2d::Entry> Conv2d::entry_for(const Shape& x_shape) const {
  State& st = *state_;
  std::lock_guard<std::mutex> lock(st.mu);
  auto it = st.plans.find(x_shape);
  if (it != st.plans.end()) return it->second;
  auto e = std::make_shared<Entry>();
  e->plan =
      cpu::make_conv_plan(x_shape, st.weight_shape, st.bias.defined(), st.params, st.precision);
  if (st.packed) {
    e->weights = cpu::repack_conv_weights(e->plan, st.packed);
  } else {
    // The first packed copy becomes the only one: the plain weights go (their file pages
    // too, when they are a view of a checkpoint in the compute dtype), unless the primitive
    // reads the plain layout itself.
    e->weights = cpu::pack_conv_weights(e->plan, st.plain);
    st.packed = e->weights;
    if (e->weights.get_data_handle() == st.plain.raw()) {
      st.packed_storage = st.plain;
    } else {
      MappedFile::release_pages(st.plain.raw(), st.plain.nbytes());
    }
    st.plain = Tensor();
  }
  if (st.plans.size() > 64) st.plans.clear();  // bound odd callers; `packed` stays
  return st.plans.emplace(x_shape, std::move(e)).first->second;
}

Shape Conv2d::prepare(const Shape& x_shape) const {
  if (!state_) throw Error("Conv2d: the layer is not defined (no weights were loaded)");
  const State& st = *state_;
  const Shape out = cpu::conv2d_out_shape(x_shape, st.weight_shape, st.bias, st.params);
  // Device weights are the backend's: nothing to pack for oneDNN.
  if (numel_of(out) > 0 && st.device.is_cpu()) entry_for(x_shape);
  return out;
}

bool Conv2d::prepared_for(const Shape& x_shape) const {
  if (!state_) return false;
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->plans.count(x_shape) > 0;
}

bool Conv2d::holds_plain_weights() const {
  if (!state_) return false;
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->plain.defined();
}

Tensor Conv2d::operator()(const Tensor& x_in) const {
  if (!state_) throw Error("Conv2d: the layer is not defined (no weights were loaded)");
  State& st = *state_;
  if (!st.device.is_cpu()) return conv2d(x_in, st.plain, st.bias, st.params);
  profile::OpScope prof("conv2d");
  const Shape out = cpu::conv2d_out_shape(x_in, st.weight_shape, st.bias, st.params);
  if (numel_of(out) == 0) return Tensor::empty(out);
  prof.set_flops(2.0 * static_cast<double>(numel_of(out)) *
                 static_cast<double>(numel_of(st.weight_shape) / st.weight_shape[0]));
  Tensor x = is_channels_last(x_in) ? x_in : x_in.contiguous();  // both layouts run as they are
  const auto entry = entry_for(x.shape());
  return cpu::run_conv_plan(entry->plan, x, entry->weights, st.bias);
}

}  // namespace ipa::ops
