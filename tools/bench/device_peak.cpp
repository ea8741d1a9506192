#include "bench/device_peak.h"

#include <algorithm>
#include <chrono>

#include "ops/backend.h"
#include "ops/ops.h"

namespace ipa::bench {

double measure_device_bf16_tflops(Device device, int n, int repeats) {
  ops::Backend& backend = ops::backend(device);
  // Operands made on the host once (0.25 / 0.5 GB at n = 8192 in bf16), then uploaded: the
  // values do not matter for the rate, only that they are finite.
  const Shape shape = {n, n};
  const Tensor a = Tensor::full(shape, 0.5f).to(DType::BF16).to(device);
  const Tensor b = Tensor::full(shape, 0.25f).to(DType::BF16).to(device);
  using clock = std::chrono::steady_clock;
  (void)ops::matmul(a, b);
  backend.synchronize(device);
  double best = 0;
  for (int r = 0; r < std::max(repeats, 1); ++r) {
    const auto t0 = clock::now();
    const Tensor c = ops::matmul(a, b);
    backend.synchronize(device);
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    best = std::max(best, 2.0 * n * static_cast<double>(n) * n / s * 1e-12);
  }
  return best;
}

double datasheet_bf16_tflops(const std::string& d, std::string* why) {
  struct Entry {
    const char* all_of[2];
    double tflops;
  };
  // Most specific first. NVIDIA's datasheets quote these dense (the sparse figures are 2x).
  static const Entry entries[] = {
      {{"H100", "PCIe"}, 756.5}, {{"H100", "NVL"}, 835.5}, {{"H100", ""}, 989.4},
      {{"H200", ""}, 989.4},     {{"A100", ""}, 312.0},
  };
  for (const Entry& e : entries) {
    const bool match = d.find(e.all_of[0]) != std::string::npos &&
                       (*e.all_of[1] == '\0' || d.find(e.all_of[1]) != std::string::npos);
    if (match) {
      if (why) {
        *why = std::string("datasheet dense bf16 of ") + e.all_of[0] +
               (*e.all_of[1] ? std::string(" ") + e.all_of[1] : std::string(" SXM"));
      }
      return e.tflops;
    }
  }
  if (why) *why = "unknown GPU: no datasheet figure";
  return 0;
}

}  // namespace ipa::bench
