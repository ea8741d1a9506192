#include "sampling/guidance.h"

#include <cmath>

#include "base/error.h"
#include "sampling/tensor_loops.h"

namespace ipa::sampling {

Tensor classifier_free_guidance(const Tensor& uncond_in, const Tensor& cond_in, float scale) {
  const auto [uncond, cond] =
      detail::as_f32_pair(uncond_in, "unconditional prediction", cond_in, "conditional prediction");
  const float* u = detail::cdata(uncond);
  const float* c = detail::cdata(cond);
  return detail::generate(uncond.shape(), [&](int64_t i) { return u[i] + scale * (c[i] - u[i]); });
}

Tensor classifier_free_guidance(const Tensor& batched, float scale) {
  if (batched.dim() < 1 || batched.size(0) % 2 != 0) {
    throw Error("classifier-free guidance needs a batch of [uncond, cond] halves, got " +
                batched.describe());
  }
  const int64_t half = batched.size(0) / 2;
  return classifier_free_guidance(batched.narrow(0, 0, half), batched.narrow(0, half, half), scale);
}

namespace {

// torch.std over all but the first dimension (unbiased), accumulated in double like
// PyTorch's CPU Welford reduction, one value per sample.
std::vector<float> per_sample_std(const Tensor& t) {
  const int64_t batch = t.size(0);
  const int64_t n = batch > 0 ? t.numel() / batch : 0;
  if (n < 2) throw Error("guidance rescale needs at least two values per sample");
  const float* p = detail::cdata(t);
  std::vector<float> out(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    double mean = 0.0;
    for (int64_t i = 0; i < n; ++i) mean += p[b * n + i];
    mean /= static_cast<double>(n);
    double m2 = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double d = p[b * n + i] - mean;
      m2 += d * d;
    }
    out[static_cast<size_t>(b)] = static_cast<float>(std::sqrt(m2 / static_cast<double>(n - 1)));
  }
  return out;
}

}  // namespace

Tensor rescale_guidance(const Tensor& guided_in, const Tensor& cond_in, float guidance_rescale) {
  if (!(guidance_rescale >= 0.0f && guidance_rescale <= 1.0f)) {
    throw Error("guidance_rescale must lie in [0, 1], got " + std::to_string(guidance_rescale));
  }
  const auto [guided, cond] =
      detail::as_f32_pair(guided_in, "guided prediction", cond_in, "conditional prediction");
  if (guided.dim() < 2) throw Error("guidance rescale needs a batch dimension");
  const std::vector<float> std_cond = per_sample_std(cond);
  const std::vector<float> std_guided = per_sample_std(guided);
  const int64_t n = guided.numel() / guided.size(0);
  const float* g = detail::cdata(guided);
  const float keep = 1.0f - guidance_rescale;
  return detail::generate(guided.shape(), [&](int64_t i) {
    const auto b = static_cast<size_t>(i / n);
    const float rescaled = g[i] * (std_cond[b] / std_guided[b]);
    return guidance_rescale * rescaled + keep * g[i];
  });
}

}  // namespace ipa::sampling
