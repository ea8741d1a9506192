#include "tensor/device.h"

#include <array>
#include <atomic>
#include <charconv>

#include "base/error.h"

namespace ipa {

namespace {

std::array<std::atomic<DeviceMemory*>, 3>& registry() {
  static std::array<std::atomic<DeviceMemory*>, 3> memories{};
  return memories;
}

const char* type_name(DeviceType t) {
  switch (t) {
    case DeviceType::CPU:
      return "cpu";
    case DeviceType::CUDA:
      return "cuda";
    case DeviceType::Emulated:
      return "emulated";
  }
  return "?";
}

}  // namespace

std::string Device::name() const {
  if (is_cpu()) return "cpu";
  return std::string(type_name(type)) + ":" + std::to_string(index);
}

Device parse_device(std::string_view text) {
  const auto bad = [&] {
    return Error("device '" + std::string(text) + "': expected cpu, cuda or cuda:N (N >= 0)");
  };
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  Device d;
  if (kind == "cpu") {
    if (colon != std::string_view::npos) throw bad();
    return d;
  }
  if (kind == "cuda") {
    d.type = DeviceType::CUDA;
  } else if (kind == "emulated") {
    d.type = DeviceType::Emulated;
  } else {
    throw bad();
  }
  if (colon != std::string_view::npos) {
    const std::string_view num = text.substr(colon + 1);
    const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), d.index);
    if (num.empty() || ec != std::errc() || end != num.data() + num.size() || d.index < 0) {
      throw bad();
    }
  }
  return d;
}

void register_device_memory(DeviceType type, DeviceMemory* memory) {
  registry()[static_cast<size_t>(type)].store(memory);
}

bool has_device_memory(DeviceType type) {
  return registry()[static_cast<size_t>(type)].load() != nullptr;
}

DeviceMemory& device_memory(Device device) {
  DeviceMemory* m = registry()[static_cast<size_t>(device.type)].load();
  if (m == nullptr) {
    throw Error("no backend for device " + device.name() +
                (device.type == DeviceType::CUDA
                     ? " in this build (CUDA needs a build with -DIPA_CUDA=ON, see docs/cuda.md)"
                     : ""));
  }
  return *m;
}

}  // namespace ipa
