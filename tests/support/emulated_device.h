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
  size_t uploads = 0, downloads = 0;  // host <-> device copies, outside the backend's calls
  size_t ops = 0;                     // backend calls
  size_t live_bytes = 0;              // allocated now
};
EmulatedDeviceStats emulated_device_stats();
void reset_emulated_device_stats();  // uploads, downloads and ops (live_bytes stays)

// The device golden tests run on, from IPADAPTER_TEST_DEVICE: unset or "cpu" = the host,
// "emulated" = the emulated device (registered here), "cuda[:N]" = a GPU (registered through
// the API layer's open_device, as the engine does). Throws ipa::Error for other values.
Device test_device_from_env();
// The devices the device golden tests (tests/golden/test_device_goldens.cpp) run on: with
// IPADAPTER_TEST_DEVICE set, that one; else the emulated device (the host runs of the same
// goldens are the other golden tests, so CI covers both).
std::vector<Device> golden_test_devices();

// The golden tolerance on `device` for a check whose host tolerance is `host_tol` — the one
// place per-device tolerances live. The host and the emulated device (bit-identical to the
// host in F32) keep the host's; a CUDA device's (bf16/f16 compute) is set here by the CUDA
// backend's work, until then the host's.
double golden_tolerance(Device device, double host_tol);

}  // namespace ipa::test
