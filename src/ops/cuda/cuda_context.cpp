#include "ops/cuda/cuda_context.h"

#include <array>
#include <memory>

#include "base/error.h"
#include "ops/cuda/cuda_check.h"

namespace ipa::ops::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // what cuBLASLt recommends for Hopper
constexpr int kMaxDevices = 64;

std::unique_ptr<Context> make_context(int index) {
  auto c = std::make_unique<Context>();
  const char* op = "cuda context";
  const std::string dev = "cuda:" + std::to_string(index);
  auto detail = [&] { return dev; };
  c->index = index;
  check(cudaSetDevice(index), op, "cudaSetDevice", detail);
  check(cudaGetDeviceProperties(&c->props, index), op, "cudaGetDeviceProperties", detail);
  check(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), op, "cudaStreamCreate",
        detail);
  c->allocator = new CachingAllocator(index, c->stream);  // lives as long as the process
  check(cublasCreate(&c->blas), op, "cublasCreate", detail);
  check(cublasSetStream(c->blas, c->stream), op, "cublasSetStream", detail);
  check(cublasLtCreate(&c->lt), op, "cublasLtCreate", detail);
  check(cudnnCreate(&c->dnn), op, "cudnnCreate", detail);
  check(cudnnSetStream(c->dnn, c->stream), op, "cudnnSetStream", detail);
  c->workspace_bytes = kWorkspaceBytes;
  c->workspace = c->allocator->allocate(kWorkspaceBytes);
  // A user workspace also keeps cuBLAS from allocating during CUDA graph capture.
  check(cublasSetWorkspace(c->blas, c->workspace, c->workspace_bytes), op, "cublasSetWorkspace",
        detail);
  check(cudaMallocHost(&c->staging, Context::kStagingSlots * Context::kStagingSlotBytes), op,
        "cudaMallocHost", detail);
  for (cudaEvent_t& e : c->staging_done) {
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), op, "cudaEventCreate", detail);
  }
  return c;
}

}  // namespace

void Context::activate() const {
  check(cudaSetDevice(index), "cuda", "cudaSetDevice",
        [&] { return "cuda:" + std::to_string(index); });
}

int device_count() {
  static const int count = [] {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      throw Error(std::string("no CUDA device: ") + cudaGetErrorString(e));
    }
    if (n == 0) throw Error("no CUDA device: the CUDA runtime found no GPU");
    return n;
  }();
  return count;
}

Context& context(int index) {
  static std::mutex mu;
  static std::array<Context*, kMaxDevices> contexts{};
  const int n = device_count();
  if (index < 0 || index >= n || index >= kMaxDevices) {
    throw Error("cuda:" + std::to_string(index) + ": this machine has " + std::to_string(n) +
                " CUDA device" + (n == 1 ? "" : "s") + " (cuda:0" +
                (n > 1 ? " to cuda:" + std::to_string(n - 1) : std::string()) + ")");
  }
  Context* c = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (contexts[index] == nullptr) contexts[index] = make_context(index).release();
    c = contexts[index];
  }
  c->activate();
  return *c;
}

Context& context(Device device) {
  if (device.type != DeviceType::CUDA) {
    throw Error("cuda backend: asked for device " + device.name() + ", which is not a CUDA GPU");
  }
  return context(device.index);
}

}  // namespace ipa::ops::cuda
