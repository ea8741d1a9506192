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

template <typename F>
Tensor binary(const Tensor& a_in, const Tensor& b_in, const char* op, F f) {
  profile::OpScope prof(op);
  if (a_in.shape() == b_in.shape() && is_channels_last(a_in) && is_channels_last(b_in) &&
      a_in.dtype() == DType::F32 && b_in.dtype() == DType::F32) {
    // Same layout: element by element over the storage, result channels-last too.
    Tensor y = empty_channels_last(a_in.shape());
    const float* pa = static_cast<const float*>(a_in.raw());
    const float* pb = static_cast<const float*>(b_in.raw());
    float* py = static_cast<float*>(y.raw_mutable());
    const int64_t n = a_in.numel();
#pragma omp parallel for schedule(static) if (n > kGrain)
    for (int64_t i = 0; i < n; ++i) py[i] = f(pa[i], pb[i]);
    return y;
  }
  Tensor a = f32_input(a_in, op, "a"), b = f32_input(b_in, op, "b");
  const Shape out = broadcast_shape(a, b, op);
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
  Tensor a = f32_input(a_in, "scale", "a");
  Tensor y = Tensor::empty(a.shape());
  const float* p = a.data<float>();
  float* d = y.data<float>();
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
  if (!a.defined() || a.dtype() != DType::F32 || !a.is_contiguous() || a.read_only()) {
    fail(op, "a must be a writable, contiguous F32 tensor", a);
  }
  Tensor b = f32_input(b_in, op, "b");
  const Shape out = broadcast_shape(a, b, op);
  if (out != a.shape()) {
    fail(op, "b " + b.describe() + " must broadcast to a's shape " + shape_str(a.shape()));
  }
  float* pa = a.data<float>();
  broadcast_apply(pa, contiguous_strides(out), b.data<float>(), broadcast_strides(b, out), out, pa,
                  [](float x, float y) { return x + y; });
}

}  // namespace ipa::ops
