// group_norm, layer_norm and softmax: own OpenMP kernels. Statistics are two-pass with
// double-accumulated sums, so they match PyTorch's float results to rounding.
#include <cmath>

#include "ops/cpu/cpu_util.h"
#include "ops/cpu/reduce.h"
#include "ops/profile.h"

namespace ipa::ops {

using namespace cpu;

namespace {
Tensor optional_vector(const Tensor& t, int64_t n, const char* op, const char* arg) {
  if (!t.defined()) return t;
  Tensor c = f32_input(t, op, arg);
  if (c.dim() != 1 || c.size(0) != n) {
    fail(op, std::string(arg) + " must have shape [" + std::to_string(n) + "]", c);
  }
  return c;
}
}  // namespace

Tensor group_norm(const Tensor& x_in, int groups, const Tensor& gamma_in, const Tensor& beta_in,
                  float eps, bool fuse_silu) {
  profile::OpScope prof("group_norm");
  const char* op = "group_norm";
  Tensor x = f32_input(x_in, op, "x");
  if (x.dim() < 2) fail(op, "x must be [N, C, ...]", x);
  const int64_t N = x.size(0), C = x.size(1);
  if (groups < 1 || C % groups != 0) {
    fail(op,
         std::to_string(C) + " channels do not split into " + std::to_string(groups) + " groups",
         x);
  }
  Tensor gamma = optional_vector(gamma_in, C, op, "weight");
  Tensor beta = optional_vector(beta_in, C, op, "bias");
  Tensor y = Tensor::empty(x.shape());
  const int64_t spatial = C > 0 && N > 0 ? x.numel() / (N * C) : 0;
  const int64_t cpg = C / groups, group_size = cpg * spatial;
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const float* gp = gamma.defined() ? gamma.data<float>() : nullptr;
  const float* bp = beta.defined() ? beta.data<float>() : nullptr;
  const int64_t tasks = N * groups;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t g = t % groups;
    const float* src = xp + t * group_size;
    float* dst = yp + t * group_size;
    if (group_size == 0) continue;
    const float mean = static_cast<float>(sum(src, group_size) / group_size);
    const double var = sum_sq_dev(src, group_size, mean) / group_size;
    const float rstd = static_cast<float>(1.0 / std::sqrt(var + eps));
    for (int64_t c = 0; c < cpg; ++c) {
      const int64_t ch = g * cpg + c;
      const float a = rstd * (gp ? gp[ch] : 1.f);
      const float b = (bp ? bp[ch] : 0.f) - mean * a;
      const float* s = src + c * spatial;
      float* d = dst + c * spatial;
      if (fuse_silu) {
        map8(s, d, spatial, [a, b](v8f x) {
          const v8f v = x * a + b;
          return v / (1.f + exp8(-v));
        });
      } else {
        for (int64_t i = 0; i < spatial; ++i) d[i] = s[i] * a + b;
      }
    }
  }
  return y;
}

Tensor layer_norm(const Tensor& x_in, const Tensor& gamma_in, const Tensor& beta_in, float eps) {
  profile::OpScope prof("layer_norm");
  const char* op = "layer_norm";
  Tensor x = f32_input(x_in, op, "x");
  if (x.dim() < 1) fail(op, "x must have at least one dimension", x);
  const int64_t D = x.size(-1);
  Tensor gamma = optional_vector(gamma_in, D, op, "weight");
  Tensor beta = optional_vector(beta_in, D, op, "bias");
  Tensor y = Tensor::empty(x.shape());
  if (D == 0) return y;
  const int64_t rows = x.numel() / D;
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  const float* gp = gamma.defined() ? gamma.data<float>() : nullptr;
  const float* bp = beta.defined() ? beta.data<float>() : nullptr;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = xp + r * D;
    float* d = yp + r * D;
    const float mean = static_cast<float>(sum(s, D) / D);
    const double var = sum_sq_dev(s, D, mean) / D;
    const float rstd = static_cast<float>(1.0 / std::sqrt(var + eps));
    if (gp && bp) {
      for (int64_t i = 0; i < D; ++i) d[i] = (s[i] - mean) * rstd * gp[i] + bp[i];
    } else {
      for (int64_t i = 0; i < D; ++i) {
        d[i] = (s[i] - mean) * rstd * (gp ? gp[i] : 1.f) + (bp ? bp[i] : 0.f);
      }
    }
  }
  return y;
}

Tensor softmax(const Tensor& x_in) {
  profile::OpScope prof("softmax");
  const char* op = "softmax";
  Tensor x = f32_input(x_in, op, "x");
  if (x.dim() < 1) fail(op, "x must have at least one dimension", x);
  const int64_t D = x.size(-1);
  Tensor y = Tensor::empty(x.shape());
  if (D == 0) return y;
  const int64_t rows = x.numel() / D;
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = xp + r * D;
    float* d = yp + r * D;
    const float m = max8(s, D);
    map8(s, d, D, [m](v8f x) { return exp8(x - m); });
    const float inv = static_cast<float>(1.0 / sum(d, D));
    for (int64_t i = 0; i < D; ++i) d[i] *= inv;
  }
  return y;
}

}  // namespace ipa::ops
