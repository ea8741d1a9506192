#include "emulated_device.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include "api/devices.h"
#include "base/error.h"
#include "ops/backend.h"
#include "tensor/tensor.h"

namespace ipa::test {

namespace {

std::atomic<size_t> g_uploads{0}, g_downloads{0}, g_ops{0}, g_live{0}, g_peak{0};

// Inside a backend call the backend's own copies (inputs to the host, results back) are not
// what the models asked for: only copies outside backend calls are counted.
thread_local bool t_in_backend = false;
struct BackendCall {
  bool outer;
  BackendCall() : outer(!t_in_backend) {
    if (outer) ++g_ops;
    t_in_backend = true;
  }
  ~BackendCall() {
    if (outer) t_in_backend = false;
  }
  BackendCall(const BackendCall&) = delete;
  BackendCall& operator=(const BackendCall&) = delete;
};

constexpr std::align_val_t kAlign{64};

// Host memory that only this file touches: the tensor layer sees device pointers.
class EmulatedMemory : public DeviceMemory {
 public:
  void* allocate(Device, size_t bytes) override {
    void* p = ::operator new(bytes, kAlign);
    const size_t live = g_live.fetch_add(bytes) + bytes;
    size_t peak = g_peak.load();
    while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
    }
    return p;
  }
  void release(Device, void* p, size_t bytes) override {
    g_live.fetch_sub(bytes);
    ::operator delete(p, kAlign);
  }
  void upload(Device, void* dst, const void* src, size_t bytes) override {
    if (!t_in_backend) ++g_uploads;
    std::memcpy(dst, src, bytes);
  }
  void download(Device, void* dst, const void* src, size_t bytes) override {
    if (!t_in_backend) ++g_downloads;
    std::memcpy(dst, src, bytes);
  }
  void fill_zero(Device, void* dst, size_t bytes) override { std::memset(dst, 0, bytes); }
  void copy_convert(Device, void* dst, DType dst_dtype, const void* src, DType src_dtype,
                    const int64_t* shape, const int64_t* strides, int rank) override {
    // A host view of the "device" bytes, converted by the host code.
    const Tensor view = Tensor::view_of(nullptr, src, Shape(shape, shape + rank), src_dtype,
                                        Shape(strides, strides + rank));
    const Tensor host = view.to(dst_dtype);
    std::memcpy(dst, host.raw(), host.nbytes());
  }
};

bool is_half(DType d) {
  return d == DType::F16 || d == DType::BF16;
}

// The device input seen from the host, strides and all (the "device" bytes are host memory; the
// caller keeps them alive for the call): the CPU op then sees the layout the host run would,
// e.g. the VAE decoder's channels-last views, and computes the same bits.
Tensor host_view(const Tensor& t) {
  return Tensor::view_of(nullptr, t.device_data(), t.shape(), t.dtype(), t.strides());
}
// A device input for the CPU op: F16/BF16 activations become F32 (the CPU ops take F32); other
// dtypes (ids, BF16 weights of a bf16 layer) stay.
Tensor host_activation(const Tensor& t) {
  if (!t.defined()) return t;
  const Tensor h = host_view(t);
  return is_half(h.dtype()) ? h.to(DType::F32) : h;
}
// Weights: the CPU ops compute in bf16 with BF16 weights, in F32 otherwise (F16 → F32).
Tensor host_weight(const Tensor& t) {
  if (!t.defined()) return t;
  const Tensor h = host_view(t);
  return h.dtype() == DType::F16 ? h.to(DType::F32) : h;
}
// The CPU result on `device`, in `dtype` when it is a float result; a channels-last result stays
// channels-last (its NHWC storage uploaded as it is).
Tensor back(const Tensor& y, Device device, DType dtype) {
  if (ops::is_channels_last(y)) {
    return back(y.permute({0, 2, 3, 1}), device, dtype).permute({0, 3, 1, 2});
  }
  const Tensor out = y.to(device);
  return y.dtype() == DType::F32 && is_half(dtype) ? out.to(dtype) : out;
}

class EmulatedBackend : public ops::Backend {
 public:
  std::string describe(Device device) const override {
    return device.name() + " (emulated: host memory behind the device wall, CPU ops)";
  }
  void synchronize(Device) override {}
  size_t peak_memory_bytes(Device) const override { return g_peak.load(); }
  void reset_peak_memory(Device) override { g_peak.store(g_live.load()); }

  Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, ops::Activation act) override {
    const BackendCall call;
    return back(ops::linear(host_activation(x), host_weight(w), host_weight(b), act), x.device(),
                x.dtype());
  }
  Tensor matmul(const Tensor& a, const Tensor& b, bool trans_b, float alpha) override {
    const BackendCall call;
    return back(ops::matmul(host_activation(a), host_activation(b), trans_b, alpha), a.device(),
                a.dtype());
  }
  Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b,
                const ops::Conv2dParams& p) override {
    const BackendCall call;
    return back(ops::conv2d(host_activation(x), host_weight(w), host_weight(b), p), x.device(),
                x.dtype());
  }
  Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                    bool fuse_silu) override {
    const BackendCall call;
    return back(ops::group_norm(host_activation(x), groups, host_activation(gamma),
                                host_activation(beta), eps, fuse_silu),
                x.device(), x.dtype());
  }
  Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) override {
    const BackendCall call;
    return back(
        ops::layer_norm(host_activation(x), host_activation(gamma), host_activation(beta), eps),
        x.device(), x.dtype());
  }
  Tensor softmax(const Tensor& x) override {
    const BackendCall call;
    return back(ops::softmax(host_activation(x)), x.device(), x.dtype());
  }
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                   const Tensor& mask) override {
    const BackendCall call;
    return back(ops::attention(host_activation(q), host_activation(k), host_activation(v), heads,
                               scale, host_activation(mask)),
                q.device(), q.dtype());
  }
  Tensor activation(const Tensor& x, ops::Activation act) override {
    const BackendCall call;
    return back(ops::activation(host_activation(x), act), x.device(), x.dtype());
  }
  Tensor geglu(const Tensor& x) override {
    const BackendCall call;
    return back(ops::geglu(host_activation(x)), x.device(), x.dtype());
  }
  Tensor binary(Binary op, const Tensor& a, const Tensor& b) override {
    const BackendCall call;
    const Tensor ha = host_activation(a), hb = host_activation(b);
    Tensor y;
    switch (op) {
      case Binary::Add:
        y = ops::add(ha, hb);
        break;
      case Binary::Sub:
        y = ops::sub(ha, hb);
        break;
      case Binary::Mul:
        y = ops::mul(ha, hb);
        break;
      case Binary::Div:
        y = ops::div(ha, hb);
        break;
    }
    return back(y, a.device(), a.dtype());
  }
  Tensor scale(const Tensor& a, float s) override {
    const BackendCall call;
    return back(ops::scale(host_activation(a), s), a.device(), a.dtype());
  }
  Tensor add_scaled(const Tensor& a, const Tensor& b, float s) override {
    const BackendCall call;
    return back(ops::add_scaled(host_activation(a), host_activation(b), s), a.device(), a.dtype());
  }
  void add_(Tensor& a, const Tensor& b) override {
    const BackendCall call;
    const bool channels_last = ops::is_channels_last(a);
    if (!a.is_contiguous() && !channels_last) {
      throw Error("add_: a must be contiguous or channels-last, got " + a.describe());
    }
    // a + b has the bits of the in-place add; its storage, in a's layout, replaces a's.
    Tensor y = ops::add(host_activation(a), host_activation(b));
    y = channels_last ? ops::to_channels_last(y).permute({0, 2, 3, 1}) : y.contiguous();
    const Tensor result = y.to(a.dtype());
    device_memory(a.device())
        .upload(a.device(), a.device_data_mutable(), result.raw(), result.nbytes());
  }
  Tensor concat(const std::vector<Tensor>& xs, int64_t dim) override {
    const BackendCall call;
    std::vector<Tensor> host;  // any dtype: the views as they are (channels-last ones too)
    for (const Tensor& t : xs) host.push_back(host_view(t));
    return back(ops::concat(host, dim), xs.front().device(), xs.front().dtype());
  }
  Tensor embedding(const Tensor& table, const Tensor& ids) override {
    const BackendCall call;
    return back(ops::embedding(table.to(Device{}), ids.to(Device{})), table.device(),
                table.dtype());
  }
  Tensor argmax(const Tensor& x, int64_t dim) override {
    const BackendCall call;
    return ops::argmax(host_activation(x), dim).to(x.device());
  }
  Tensor upsample_nearest(const Tensor& x, int64_t out_h, int64_t out_w) override {
    const BackendCall call;
    return back(ops::upsample_nearest(host_activation(x), out_h, out_w), x.device(), x.dtype());
  }
  Tensor timestep_embedding(const Tensor& t, int64_t dim, bool flip_sin_to_cos, float freq_shift,
                            float max_period) override {
    const BackendCall call;
    return back(
        ops::timestep_embedding(t.to(Device{}), dim, flip_sin_to_cos, freq_shift, max_period),
        t.device(), t.dtype());
  }
  Tensor interpolate(const Tensor& x, int64_t out_h, int64_t out_w, ops::Interp mode,
                     bool align_corners) override {
    const BackendCall call;
    return back(ops::interpolate(host_activation(x), out_h, out_w, mode, align_corners), x.device(),
                x.dtype());
  }
};

}  // namespace

Device register_emulated_device() {
  static EmulatedMemory memory;
  static EmulatedBackend backend;
  // Every call registers again: a test may have put its own device memory in the slot.
  register_device_memory(DeviceType::Emulated, &memory);
  ops::register_backend(DeviceType::Emulated, &backend);
  return Device{DeviceType::Emulated, 0};
}

EmulatedDeviceStats emulated_device_stats() {
  return {g_uploads.load(), g_downloads.load(), g_ops.load(), g_live.load()};
}

void reset_emulated_device_stats() {
  g_uploads = 0;
  g_downloads = 0;
  g_ops = 0;
}

Device test_device_from_env() {
  const char* env = std::getenv("IPADAPTER_TEST_DEVICE");
  if (env == nullptr || *env == '\0') return Device{};
  if (parse_device(env).type == DeviceType::Emulated) return register_emulated_device();
  return open_device(env);  // as the engine does: registers the CUDA backend in a CUDA build
}

std::vector<Device> golden_test_devices() {
  const char* env = std::getenv("IPADAPTER_TEST_DEVICE");
  if (env != nullptr && *env != '\0') return {test_device_from_env()};
  return {register_emulated_device()};
}

double golden_tolerance(Device device, double host_tol) {
  switch (device.type) {
    case DeviceType::CPU:
    case DeviceType::Emulated:
      return host_tol;
    case DeviceType::CUDA:
      return host_tol;  // the CUDA backend's tolerance goes here (docs/cuda.md)
  }
  return host_tol;
}

}  // namespace ipa::test
