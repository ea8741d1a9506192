// The emulated device: host memory behind the device wall, with a backend that runs every op
// on host copies through the CPU ops. Models and pipelines see a device like a GPU (host
// access to its tensors throws), so the device plumbing — weights uploaded at load,
// activations kept on the device, inputs moved there, results brought back — is tested on
// machines without one. In F32 its results are bit-identical to the host's: any difference is
// a plumbing bug, not rounding.
#pragma once
#include <cstddef>
#include <vector>

#include "tensor/device.h"

namespace ipa::test {

// Registers the emulated device's DeviceMemory and ops::Backend (again on every call).
// Returns the device "emulated:0".
Device register_emulated_device();

// Counters since the last reset, for tests that check what crossed the device wall.
struct EmulatedDeviceStats {
  size_t uploads = 0, downloads = 0;  // host <-> device copies asked of the DeviceMemory
  size_t ops = 0;                     // backend calls
  size_t live_bytes = 0;              // allocated now
};
EmulatedDeviceStats emulated_device_stats();
void reset_emulated_device_stats();  // uploads, downloads and ops (live_bytes stays)

// The device golden tests run on, from IPADAPTER_TEST_DEVICE: unset or "cpu" = the host,
// "emulated" = the emulated device (registered here), "cuda[:N]" = a GPU (a CUDA build
// registers its backend through the API layer). Throws ipa::Error for other values.
Device test_device_from_env();
// The devices a device-parametrised golden test runs on: with IPADAPTER_TEST_DEVICE set, that
// one; else the host and the emulated device (both, in CI).
std::vector<Device> golden_test_devices();

}  // namespace ipa::test
