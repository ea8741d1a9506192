#include "ops/backend.h"

#include <array>
#include <atomic>

namespace ipa::ops {

namespace {
std::array<std::atomic<Backend*>, 3>& registry() {
  static std::array<std::atomic<Backend*>, 3> backends{};
  return backends;
}
}  // namespace

void register_backend(DeviceType type, Backend* b) {
  registry()[static_cast<size_t>(type)].store(b);
}

Backend& backend(Device device) {
  Backend* b = device.is_cpu() ? nullptr : registry()[static_cast<size_t>(device.type)].load();
  if (b == nullptr) {
    throw Error("no compute backend for device " + device.name() +
                (device.type == DeviceType::CUDA
                     ? " in this build (CUDA needs a build with -DIPA_CUDA=ON, see docs/cuda.md)"
                     : ""));
  }
  return *b;
}

namespace {
template <typename Range, typename Get>
Backend* backend_of(const char* op, const Range& tensors, Get get) {
  const Tensor* first = nullptr;
  for (const auto& item : tensors) {
    const Tensor* t = get(item);
    if (t == nullptr || !t->defined()) continue;
    if (first == nullptr) {
      first = t;
    } else if (!(t->device() == first->device())) {
      throw Error(std::string(op) + ": inputs on different devices: " + first->describe() +
                  " and " + t->describe());
    }
  }
  if (first == nullptr || first->on_host()) return nullptr;
  return &backend(first->device());
}
}  // namespace

Backend* backend_for(const char* op, std::initializer_list<const Tensor*> tensors) {
  return backend_of(op, tensors, [](const Tensor* t) { return t; });
}

Backend* backend_for(const char* op, const std::vector<Tensor>& tensors) {
  return backend_of(op, tensors, [](const Tensor& t) { return &t; });
}

}  // namespace ipa::ops
