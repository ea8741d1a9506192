// One context per GPU: its stream (every kernel, copy and library call of the device goes on
// it, so the work of a step is ordered without host round trips), the cuBLAS, cuBLASLt and
// cuDNN handles bound to that stream, one library workspace, the caching allocator and a
// pinned staging buffer for small uploads. Made on first use and kept for the process's life
// (never destroyed: the CUDA runtime may already be gone when static destructors run).
//
// One stream per device means one generation at a time per GPU: two engines on the same GPU
// in two threads would share the handles and the workspace; the API layer serialises them.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstddef>
#include <mutex>
#include <string>

#include "ops/cuda/cuda_allocator.h"
#include "tensor/device.h"

namespace ipa::ops::cuda {

struct Context {
  int index = 0;
  cudaDeviceProp props{};
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  cublasLtHandle_t lt = nullptr;
  cudnnHandle_t dnn = nullptr;
  CachingAllocator* allocator = nullptr;
  // cuBLAS and cuBLASLt share it: both run on the one stream, never at the same time.
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  // Small uploads are copied into pinned memory and sent from there asynchronously (a copy
  // from pageable memory waits for the stream first). The buffer is a ring of slots used in
  // turn; a slot's event marks when its last copy has left it, so a refill waits only for the
  // upload kStagingSlots uploads back, not for the work queued since.
  static constexpr int kStagingSlots = 16;
  static constexpr size_t kStagingSlotBytes = size_t{256} << 10;
  void* staging = nullptr;  // kStagingSlots × kStagingSlotBytes, pinned
  cudaEvent_t staging_done[kStagingSlots] = {};
  int next_slot = 0;
  std::mutex staging_mu;

  // Makes this GPU the calling thread's current device (kernels launch on the current one).
  void activate() const;
};

// Number of GPUs the runtime sees; throws ipa::Error "no CUDA device: <reason>" when there is
// none or no usable driver.
int device_count();
// The context of cuda:`index` (made on first use); throws ipa::Error naming the device when the
// index is out of range. Also makes that GPU current.
Context& context(int index);
Context& context(Device device);

}  // namespace ipa::ops::cuda
