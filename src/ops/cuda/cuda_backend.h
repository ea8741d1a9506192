// The CUDA backend (docs/cuda.md): device memory with a caching allocator and the ops of
// ops/backend.h on cuBLAS/cuBLASLt, cuDNN and our kernels, for DeviceType::CUDA. Plain C++: the
// API layer includes this header (under IPA_HAVE_CUDA) without seeing any CUDA header.
#pragma once

namespace ipa::ops::cuda {

// Registers the DeviceMemory and the Backend of DeviceType::CUDA (once; later calls do nothing
// more). Throws ipa::Error "no CUDA device: <the runtime's reason>" when there is no usable GPU
// or driver; nothing is registered then and the process goes on CPU-only.
void register_cuda_backend();

}  // namespace ipa::ops::cuda
