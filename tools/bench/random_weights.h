// Random checkpoints with the exact names and shapes a model's loader asks for: the loader
// runs against a RecordingWeightStore, which records each request and hands back a zero
// placeholder; the recorded tensors are then written as deterministic random F16
// safetensors, the way the released files store them.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "weights/weight_store.h"

namespace ipa::bench {

struct TensorSpec {
  std::string name;
  Shape shape;
};

// A store that has every weight a loader asks for: an unknown name gets a zero placeholder of
// the shape asked (untouched anonymous pages: no resident memory), and is recorded.
class RecordingWeightStore final : public WeightStore {
 public:
  // Every tensor asked for, in first-request order (each name once).
  const std::vector<TensorSpec>& requested() const { return specs_; }
  int64_t parameters() const;

 protected:
  Tensor absent(const std::string& name, const Shape& expected) const override;

 private:
  mutable std::vector<TensorSpec> specs_;
  mutable std::vector<std::string> names_;  // sorted, for the "each name once" check
};

// Deterministic random values for one tensor (a function of seed, name and shape only):
// rank ≥ 2 uniform ±1/sqrt(fan_in) (fan_in = numel / shape[0], PyTorch's default bound);
// rank-1 `*.weight` (norm gains) 1 ± 0.02; other rank-1 tensors (biases, class embedding)
// ±0.02. Keeps activations of any depth finite and far from denormals.
Tensor random_f16_tensor(const std::string& name, const Shape& shape, uint64_t seed);

// Writes random_f16_tensor for every spec into one safetensors file (atomically: a temp file
// renamed into place). `progress(done_params, total_params)` is called along the way.
void write_random_safetensors(const std::string& path, const std::vector<TensorSpec>& specs,
                              uint64_t seed,
                              const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace ipa::bench
