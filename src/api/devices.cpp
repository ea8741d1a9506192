#include "api/devices.h"

#include <mutex>

#include "base/error.h"
#include "ops/backend.h"
#include "ops/ops.h"
#ifdef IPA_HAVE_CUDA
#include "ops/cuda/cuda_backend.h"
#endif

namespace ipa {

namespace {

#ifdef IPA_HAVE_CUDA
// Registers the CUDA backend once; a failure (no driver, no GPU) is kept and rethrown to every
// later caller, so each gets the same clear message.
void register_cuda_once() {
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    try {
      ops::cuda::register_cuda_backend();
    } catch (const std::exception& e) {
      failure = e.what();
    }
  });
  if (!failure.empty()) throw Error(failure);
}
#endif

}  // namespace

Device open_device(const std::string& text) {
  const Device device = parse_device(text);
  switch (device.type) {
    case DeviceType::CPU:
      break;
    case DeviceType::CUDA:
#ifdef IPA_HAVE_CUDA
      register_cuda_once();
      ops::backend(device).describe(device);  // a missing GPU index throws here, naming it
#else
      throw Error("device '" + text +
                  "': this binary was built without CUDA (rebuild with -DIPA_CUDA=ON, see "
                  "docs/cuda.md)");
#endif
      break;
    case DeviceType::Emulated:
      if (!has_device_memory(DeviceType::Emulated)) {
        throw Error("device '" + text +
                    "': the emulated device exists only in the test suite; expected cpu, cuda "
                    "or cuda:N");
      }
      break;
  }
  return device;
}

PrecisionChoice resolve_precision_on(Device device, Precision requested) {
  if (device.is_cpu()) {
    const PrecisionChoice c = resolve_precision(requested);
    ops::require_precision(c.precision);
    return c;
  }
  if (requested != Precision::Auto) return {requested, "as asked"};
  if (const auto from_env = precision_from_environment()) return *from_env;
  if (device.type == DeviceType::CUDA) {
    return {Precision::BF16,
            "bf16 on CUDA: bf16 weights, convolutions and linears on tensor cores with F32 "
            "accumulation"};
  }
  return {Precision::F32, "f32 on the " + device.name() + " device"};
}

std::vector<std::string> device_descriptions() {
  std::vector<std::string> out = {"cpu"};
#ifdef IPA_HAVE_CUDA
  try {
    register_cuda_once();
    for (int i = 0; i < 16; ++i) {  // describe() throws past the last GPU
      const Device d{DeviceType::CUDA, i};
      try {
        out.push_back(ops::backend(d).describe(d));
      } catch (const Error&) {
        if (i == 0) out.push_back("cuda: no GPU found");
        break;
      }
    }
  } catch (const std::exception& e) {
    out.push_back(std::string("cuda: unavailable (") + e.what() + ")");
  }
#else
  out.push_back("cuda: not in this build (rebuild with -DIPA_CUDA=ON, see docs/cuda.md)");
#endif
  return out;
}

}  // namespace ipa
