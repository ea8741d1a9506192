// The device a ComputeOptions names, made ready for use: parsed, and its backend registered
// (CUDA: once per process, in a CUDA build). The one place the API layer turns
// ComputeOptions::device into a Device, so every entry point (engine, embedder, info) fails
// the same way before any slow work.
#pragma once
#include <optional>
#include <string>

#include "ipadapter/types.h"
#include "tensor/device.h"

namespace ipa {

// Throws ipa::Error naming the value: a bad name, cuda in a build without CUDA ("rebuild with
// -DIPA_CUDA=ON"), no GPU, a GPU index out of range, or the test-only emulated device outside
// the tests.
Device open_device(const std::string& text);

// IPADAPTER_PRECISION's choice when it is set to f32 or bf16 (nullopt when unset or auto);
// throws ipa::Error naming a bad value. Shared by resolve_precision and resolve_precision_on.
std::optional<PrecisionChoice> precision_from_environment();

// What Precision::Auto means on `device`: on the host resolve_precision's choice; on a CUDA
// GPU BF16 (bf16 weights; convolutions and linears round their F32 inputs to bf16 and run on
// tensor cores with F32 accumulation, as on the CPU), unless
// IPADAPTER_PRECISION says otherwise; F32 on the emulated test device. Explicit choices stay.
PrecisionChoice resolve_precision_on(Device device, Precision requested);

}  // namespace ipa
