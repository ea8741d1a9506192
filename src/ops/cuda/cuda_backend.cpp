// ops::Backend for CUDA GPUs: routes each op to its implementation (cuda_ops.h) and answers
// the device questions (describe, synchronize, peak memory) from the device's context.
#include "ops/cuda/cuda_backend.h"

#include <cstdio>
#include <mutex>

#include "base/error.h"
#include "ops/backend.h"
#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_context.h"
#include "ops/cuda/cuda_memory.h"
#include "ops/cuda/cuda_ops.h"

namespace ipa::ops::cuda {

namespace {

class CudaBackend final : public Backend {
 public:
  std::string describe(Device device) const override {
    const Context& c = context(device);
    char gib[32];
    std::snprintf(gib, sizeof gib, "%.1f",
                  static_cast<double>(c.props.totalGlobalMem) / (1u << 30));
    return device.name() + " " + c.props.name + " (sm_" + std::to_string(c.props.major) +
           std::to_string(c.props.minor) + ", " + gib + " GiB)";
  }
  void synchronize(Device device) override {
    const Context& c = context(device);
    check(cudaStreamSynchronize(c.stream), "synchronize", "cudaStreamSynchronize",
          [&] { return device.name(); });
  }
  size_t peak_memory_bytes(Device device) const override {
    return context(device).allocator->stats().peak_in_use;
  }
  void reset_peak_memory(Device device) override { context(device).allocator->reset_peak(); }

  Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, Activation act) override {
    return cuda::linear(x, w, b, act);
  }
  Tensor matmul(const Tensor& a, const Tensor& b, bool trans_b, float alpha) override {
    return cuda::matmul(a, b, trans_b, alpha);
  }
  Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) override {
    return cuda::conv2d(x, w, b, p);
  }
  Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                    bool fuse_silu) override {
    return cuda::group_norm(x, groups, gamma, beta, eps, fuse_silu);
  }
  Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) override {
    return cuda::layer_norm(x, gamma, beta, eps);
  }
  Tensor softmax(const Tensor& x) override { return cuda::softmax(x); }
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                   const Tensor& mask) override {
    return cuda::attention(q, k, v, heads, scale, mask);
  }
  Tensor activation(const Tensor& x, Activation act) override { return cuda::activation(x, act); }
  Tensor geglu(const Tensor& x) override { return cuda::geglu(x); }
  Tensor binary(Binary op, const Tensor& a, const Tensor& b) override {
    switch (op) {
      case Binary::Add:
        return cuda::binary(BinaryOp::Add, a, b);
      case Binary::Sub:
        return cuda::binary(BinaryOp::Sub, a, b);
      case Binary::Mul:
        return cuda::binary(BinaryOp::Mul, a, b);
      case Binary::Div:
        return cuda::binary(BinaryOp::Div, a, b);
    }
    throw Error("binary: unknown op");
  }
  Tensor scale(const Tensor& a, float s) override { return cuda::scale(a, s); }
  Tensor add_scaled(const Tensor& a, const Tensor& b, float s) override {
    return cuda::add_scaled(a, b, s);
  }
  void add_(Tensor& a, const Tensor& b) override { cuda::add_(a, b); }
  Tensor concat(const std::vector<Tensor>& xs, int64_t dim) override {
    return cuda::concat(xs, dim);
  }
  Tensor embedding(const Tensor& table, const Tensor& ids) override {
    return cuda::embedding(table, ids);
  }
  Tensor argmax(const Tensor& x, int64_t dim) override { return cuda::argmax(x, dim); }
  Tensor upsample_nearest(const Tensor& x, int64_t out_h, int64_t out_w) override {
    return cuda::interpolate(x, out_h, out_w, Interp::Nearest, false);
  }
  Tensor timestep_embedding(const Tensor& t, int64_t dim, bool flip_sin_to_cos, float freq_shift,
                            float max_period) override {
    return cuda::timestep_embedding(t, dim, flip_sin_to_cos, freq_shift, max_period);
  }
  Tensor interpolate(const Tensor& x, int64_t out_h, int64_t out_w, Interp mode,
                     bool align_corners) override {
    return cuda::interpolate(x, out_h, out_w, mode, align_corners);
  }
};

// cuDNN 9 promises compatibility within its major version only.
void check_cudnn_version() {
  const size_t v = cudnnGetVersion();
  if (v / 10000 != CUDNN_MAJOR) {
    throw Error("no CUDA device: this build needs cuDNN " + std::to_string(CUDNN_MAJOR) +
                ".x, the loaded libcudnn is version " + std::to_string(v));
  }
}

}  // namespace

void register_cuda_backend() {
  static std::mutex mu;
  static bool registered = false;
  std::lock_guard<std::mutex> lock(mu);
  if (registered) return;
  device_count();  // throws "no CUDA device: ..." without a usable GPU
  check_cudnn_version();
  static CudaMemory* memory = new CudaMemory();  // kept for the process: tensors outlive main
  static CudaBackend* backend = new CudaBackend();
  register_device_memory(DeviceType::CUDA, memory);
  register_backend(DeviceType::CUDA, backend);
  registered = true;
}

}  // namespace ipa::ops::cuda
