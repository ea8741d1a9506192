// The backend seam: ops on tensors that live on a device (tensor/device.h) go to that device's
// Backend; host tensors run the CPU code (src/ops/cpu) as before. A backend registers itself
// for its device type (src/ops/cuda when built with IPA_CUDA; the emulated device of the tests,
// tests/support). Every ops:: function asks backend_for() first, so models and pipelines are the
// same code on every device: they keep their tensors on the device of their weights.
//
// On a device the ops take F32, F16 or BF16 activations (all inputs of one call in one dtype,
// weights in that dtype or F32) and return the inputs' dtype; they accumulate in F32. The
// semantics are those of src/ops/ops.h.
#pragma once
#include <initializer_list>
#include <string>
#include <vector>

#include "ops/ops.h"

namespace ipa::ops {

class Backend {
 public:
  virtual ~Backend() = default;
  // A line for `info` and logs, e.g. "cuda:0 NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)".
  virtual std::string describe(Device device) const = 0;
  // Waits until the device's queued work is done (timing, host reads).
  virtual void synchronize(Device device) = 0;
  // Largest bytes allocated at once on the device since the last reset (bench).
  virtual size_t peak_memory_bytes(Device device) const = 0;
  virtual void reset_peak_memory(Device device) = 0;

  virtual Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, Activation act) = 0;
  virtual Tensor matmul(const Tensor& a, const Tensor& b, bool trans_b, float alpha) = 0;
  virtual Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b,
                        const Conv2dParams& p) = 0;
  virtual Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta,
                            float eps, bool fuse_silu) = 0;
  virtual Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                            float eps) = 0;
  virtual Tensor softmax(const Tensor& x) = 0;
  virtual Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads,
                           float scale, const Tensor& mask) = 0;
  virtual Tensor activation(const Tensor& x, Activation act) = 0;  // also gelu, silu, ...
  virtual Tensor geglu(const Tensor& x) = 0;

  enum class Binary { Add, Sub, Mul, Div };
  virtual Tensor binary(Binary op, const Tensor& a, const Tensor& b) = 0;  // broadcasting
  virtual Tensor scale(const Tensor& a, float s) = 0;
  virtual Tensor add_scaled(const Tensor& a, const Tensor& b, float s) = 0;
  virtual void add_(Tensor& a, const Tensor& b) = 0;

  virtual Tensor concat(const std::vector<Tensor>& xs, int64_t dim) = 0;
  // slice and permute are views made contiguous: Tensor::contiguous() on the device.
  virtual Tensor embedding(const Tensor& table, const Tensor& ids) = 0;
  virtual Tensor argmax(const Tensor& x, int64_t dim) = 0;
  virtual Tensor upsample_nearest(const Tensor& x, int64_t out_h, int64_t out_w) = 0;
  virtual Tensor timestep_embedding(const Tensor& t, int64_t dim, bool flip_sin_to_cos,
                                    float freq_shift, float max_period) = 0;
  virtual Tensor interpolate(const Tensor& x, int64_t out_h, int64_t out_w, Interp mode,
                             bool align_corners) = 0;
};

// Called once by the backend that owns the device type.
void register_backend(DeviceType type, Backend* backend);
// The backend of `device`; throws ipa::Error when none is registered (e.g. cuda in a build
// without IPA_CUDA), naming the device.
Backend& backend(Device device);

// The backend of the device the defined tensors live on, or nullptr when they are all on the
// host. Throws ipa::Error naming `op` and the devices when they are on different devices.
Backend* backend_for(const char* op, std::initializer_list<const Tensor*> tensors);
Backend* backend_for(const char* op, const std::vector<Tensor>& tensors);  // concat's inputs

}  // namespace ipa::ops
