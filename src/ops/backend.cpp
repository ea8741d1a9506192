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

Backend* backend_for(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
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

}  // namespace ipa::ops
