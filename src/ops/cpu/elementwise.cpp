// Binary elementwise ops with numpy broadcasting, plus scale / add_scaled / add_.
#include <algorithm>

#include "ops/cpu/cpu_util.h"
#include "ops/profile.h"

namespace ipa::ops {

using namespace cpu;

namespace {

constexpr int64_t kGrain = 1 << 14;

// y[i] = f(a[ia], b[ib]) over the broadcast shape; rows of the last dim are the unit of work.
template <typename F>
void broadcast_apply(const float* a, const Shape& sa, const float* b, const Shape& sb,
                     const Shape& out, float* y, F f) {
  const int64_t n = numel_of(out);
  if (n == 0) return;
  const int64_t rank = static_cast<int64_t>(out.size());
  const int64_t inner = rank ? out.back() : 1, rows = n / inner;
  const int64_t ia = rank ? sa.back() : 0, ib = rank ? sb.back() : 0;
#pragma omp parallel for schedule(static) if (n > kGrain)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t oa = 0, ob = 0, rem = r;
    for (int64_t d = rank - 2; d >= 0; --d) {
      const int64_t idx = rem % out[d];
      rem /= out[d];
      oa += idx * sa[d];
      ob += idx * sb[d];
    }
    const float* pa = a + oa;
    const float* pb = b + ob;
    float* py = y + r * inner;
    if (ia == 1 && ib == 1) {
      for (int64_t i = 0; i < inner; ++i) py[i] = f(pa[i], pb[i]);
    } else if (ia == 1 && ib == 0) {
      const float bv = pb[0];
      for (int64_t i = 0; i < inner; ++i) py[i] = f(pa[i], bv);
    } else if (ia == 0 && ib == 1) {
      const float av = pa[0];
      for (int64_t i = 0; i < inner; ++i) py[i] = f(av, pb[i]);
    } else {
      for (int64_t i = 0; i < inner; ++i) py[i] = f(pa[i * ia], pb[i * ib]);
    }
  }
}

// Whether t can be read in place by apply_channels_last for an output of shape `out`.
bool channels_last_operand(const Tensor& t, const Shape& out) {
  return is_channels_last(t) && t.dtype() == DType::F32 && t.shape() == out;
}

// y = f(a, b) over the [N, H, W, C] storage of a channels-last output of shape `out` (4-D).
// Each operand is a channels-last tensor of that shape or a contiguous one that broadcasts to
// it; both are read through their strides permuted to storage order.
template <typename F>
void apply_channels_last(const Tensor& a, const Tensor& b, const Shape& out, float* y, F f) {
  const auto storage_strides = [&](const Tensor& t) {
    const Shape s = channels_last_operand(t, out) ? t.strides() : broadcast_strides(t, out);
    return Shape{s[0], s[2], s[3], s[1]};
  };
  const Shape storage{out[0], out[2], out[3], out[1]};
  broadcast_apply(static_cast<const float*>(a.raw()), storage_strides(a),
                  static_cast<const float*>(b.raw()), storage_strides(b), storage, y, f);
}

template <typename F>
Tensor binary(const Tensor& a_in, const Tensor& b_in, const char* op, F f) {
  profile::OpScope prof(op);
  // A channels-last operand of the output's shape makes a channels-last result, computed over
  // the storage without a transposed copy of it.
  Tensor a = f32_input_keep_layout(a_in, op, "a");
  Tensor b = f32_input_keep_layout(b_in, op, "b");
  const Shape out = broadcast_shape(a, b, op);
  // A channels-last operand that is broadcast itself is read from a contiguous copy.
  if (a.shape() != out) a = a.contiguous();
  if (b.shape() != out) b = b.contiguous();
  if (channels_last_operand(a, out) || channels_last_operand(b, out)) {
    Tensor y = empty_channels_last(out);
    apply_channels_last(a, b, out, static_cast<float*>(y.raw_mutable()), f);
    return y;
  }
  Tensor y = Tensor::empty(out);
  broadcast_apply(a.data<float>(), broadcast_strides(a, out), b.data<float>(),
                  broadcast_strides(b, out), out, y.data<float>(), f);
  return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  if (Backend* be = backend_for("add", {&a, &b})) return be->binary(Backend::Binary::Add, a, b);
  return binary(a, b, "add", [](float x, float y) { return x + y; });
}
Tensor sub(const Tensor& a, const Tensor& b) {
  if (Backend* be = backend_for("sub", {&a, &b})) return be->binary(Backend::Binary::Sub, a, b);
  return binary(a, b, "sub", [](float x, float y) { return x - y; });
}
Tensor mul(const Tensor& a, const Tensor& b) {
  if (Backend* be = backend_for("mul", {&a, &b})) return be->binary(Backend::Binary::Mul, a, b);
  return binary(a, b, "mul", [](float x, float y) { return x * y; });
}
Tensor div(const Tensor& a, const Tensor& b) {
  if (Backend* be = backend_for("div", {&a, &b})) return be->binary(Backend::Binary::Div, a, b);
  return binary(a, b, "div", [](float x, float y) { return x / y; });
}

Tensor scale(const Tensor& a_in, float s) {
  if (Backend* be = backend_for("scale", {&a_in})) return be->scale(a_in, s);
  profile::OpScope prof("scale");
  // A channels-last a is scaled over its storage and keeps its layout.
  const Tensor a = f32_input_keep_layout(a_in, "scale", "a");
  Tensor y = empty_like_layout(a);
  const float* p = static_cast<const float*>(a.raw());
  float* d = static_cast<float*>(y.raw_mutable());
  const int64_t n = a.numel();
#pragma omp parallel for schedule(static) if (n > kGrain)
  for (int64_t i = 0; i < n; ++i) d[i] = p[i] * s;
  return y;
}

Tensor add_scaled(const Tensor& a_in, const Tensor& b_in, float s) {
  if (Backend* be = backend_for("add_scaled", {&a_in, &b_in})) return be->add_scaled(a_in, b_in, s);
  profile::OpScope prof("add_scaled");
  const char* op = "add_scaled";
  Tensor a = f32_input(a_in, op, "a"), b = f32_input(b_in, op, "b");
  if (a.shape() != b.shape()) {
    fail(op, "a " + a.describe() + " and b " + b.describe() + " must have the same shape");
  }
  Tensor y = Tensor::empty(a.shape());
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* d = y.data<float>();
  const int64_t n = a.numel();
#pragma omp parallel for schedule(static) if (n > kGrain)
  for (int64_t i = 0; i < n; ++i) d[i] = pa[i] + s * pb[i];
  return y;
}

void add_(Tensor& a, const Tensor& b_in) {
  if (Backend* be = backend_for("add_", {&a, &b_in})) return be->add_(a, b_in);
  profile::OpScope prof("add_");
  const char* op = "add_";
  const bool channels_last = is_channels_last(a);
  if (!a.defined() || a.dtype() != DType::F32 || !(a.is_contiguous() || channels_last) ||
      a.read_only()) {
    fail(op, "a must be a writable F32 tensor, contiguous or channels-last", a);
  }
  // A b in a's channels-last layout is read as it is; any other b as a contiguous F32 copy.
  const Tensor b =
      channels_last && channels_last_operand(b_in, a.shape()) ? b_in : f32_input(b_in, op, "b");
  const Shape out = broadcast_shape(a, b, op);
  if (out != a.shape()) {
    fail(op, "b " + b.describe() + " must broadcast to a's shape " + shape_str(a.shape()));
  }
  float* pa = static_cast<float*>(a.raw_mutable());
  const auto plus = [](float x, float y) { return x + y; };
  if (channels_last) {
    apply_channels_last(a, b, out, pa, plus);
  } else {
    broadcast_apply(pa, contiguous_strides(out), b.data<float>(), broadcast_strides(b, out), out,
                    pa, plus);
  }
}

}  // namespace ipa::ops
