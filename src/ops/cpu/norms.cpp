// group_norm, layer_norm and softmax: argument checks and the OpenMP split; the row kernels
// (two-pass statistics with double-accumulated sums, so they match PyTorch's float results to
// rounding) are pointwise_kernels.h's, for the ISA the CPU runs.
#include "ops/cpu/cpu_util.h"
#include "ops/cpu/pointwise_kernels.h"
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
  if (Backend* be = backend_for("group_norm", {&x_in, &gamma_in, &beta_in})) {
    return be->group_norm(x_in, groups, gamma_in, beta_in, eps, fuse_silu);
  }
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
  const auto& kernels = pointwise_kernels(active_isa());
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t g = t % groups;
    kernels.group_norm_group(xp + t * group_size, yp + t * group_size, cpg, spatial,
                             gp ? gp + g * cpg : nullptr, bp ? bp + g * cpg : nullptr, eps,
                             fuse_silu);
  }
  return y;
}

Tensor layer_norm(const Tensor& x_in, const Tensor& gamma_in, const Tensor& beta_in, float eps) {
  if (Backend* be = backend_for("layer_norm", {&x_in, &gamma_in, &beta_in})) {
    return be->layer_norm(x_in, gamma_in, beta_in, eps);
  }
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
  const auto& kernels = pointwise_kernels(active_isa());
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) kernels.layer_norm_row(xp + r * D, yp + r * D, D, gp, bp, eps);
  return y;
}

Tensor softmax(const Tensor& x_in) {
  if (Backend* be = backend_for("softmax", {&x_in})) return be->softmax(x_in);
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
  const auto& kernels = pointwise_kernels(active_isa());
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) kernels.softmax_row(xp + r * D, yp + r * D, D);
  return y;
}

}  // namespace ipa::ops
