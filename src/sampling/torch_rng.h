// A random generator that reproduces PyTorch's CPU generator bit for bit:
// `torch.manual_seed(s); torch.randn(shape)` (or `torch.Generator().manual_seed(s)` passed to
// randn) gives the very same float32 numbers here, including consecutive draws from one
// generator. This is what makes a seed mean the same image as in diffusers.
#pragma once
#include <cstdint>
#include <optional>
#include <random>

#include "tensor/tensor.h"

namespace ipa::sampling {

// Where stochastic samplers take their standard normal noise from.
class NoiseSource {
 public:
  virtual ~NoiseSource() = default;
  virtual Tensor randn(const Shape& shape) = 0;
};

class TorchGenerator final : public NoiseSource {
 public:
  explicit TorchGenerator(uint64_t seed) { manual_seed(seed); }

  // Restarts the stream, as torch.Generator.manual_seed does (clears the cached normal too).
  void manual_seed(uint64_t seed);
  uint64_t initial_seed() const { return seed_; }

  // torch.randn(shape, generator=g, dtype=torch.float32) on the CPU.
  Tensor randn(const Shape& shape) override;
  // torch.rand(shape, generator=g, dtype=torch.float32) on the CPU: uniform in [0, 1).
  Tensor rand(const Shape& shape);
  void fill_randn(float* data, int64_t n);
  void fill_rand(float* data, int64_t n);

  // The primitives (CPUGeneratorImpl::random / random64).
  uint32_t random32() { return static_cast<uint32_t>(engine_()); }
  uint64_t random64();  // two 32-bit draws, the first one in the high half

 private:
  float uniform_float();    // 24 random bits scaled to [0, 1)
  double uniform_double();  // 53 random bits scaled to [0, 1)
  double scalar_normal();   // at::normal_distribution<double>, Box-Muller with a cached pair
  void box_muller_16(float* data) const;

  std::mt19937 engine_;
  uint64_t seed_ = 0;
  std::optional<double> next_normal_;  // the second value of the last scalar Box-Muller pair
};

}  // namespace ipa::sampling
