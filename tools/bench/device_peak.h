// The compute peak of a device (a GPU through its ops::Backend), for the bench's "fraction of
// peak": measured in the same run (a large bf16 matrix product, the best the device's BLAS
// reaches) and the datasheet's dense bf16 tensor-core peak for the GPUs we know (the issue's
// yardstick; 0 for others).
#pragma once
#include <string>

#include "tensor/device.h"

namespace ipa::bench {

// TFLOP/s of an n×n×n bf16 matrix product on `device` (F32 accumulation), best of `repeats`
// after a warm-up, timed around the backend's synchronize().
double measure_device_bf16_tflops(Device device, int n = 8192, int repeats = 5);

// The dense (no sparsity) bf16 tensor-core peak in TFLOP/s from the GPU's name, as the
// backend describes it: H100 SXM / H200 989.4, H100 PCIe 756.5, H100 NVL 835.5, A100 312;
// 0 when unknown. `why` says which entry matched.
double datasheet_bf16_tflops(const std::string& description, std::string* why);

}  // namespace ipa::bench
