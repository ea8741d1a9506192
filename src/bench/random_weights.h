// Random checkpoints with the exact names and shapes a model's loader asks for: the loader
// runs against a WeightStore in synthesis mode, which records each request and hands back a
// zero placeholder (untouched anonymous pages: no resident memory); the recorded tensors are
// then written as deterministic random F16 safetensors, the way the released files store them.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "weights/weight_store.h"

namespace ipa::bench {

struct TensorSpec {
  std::string name;
  Shape shape;
};

class WeightRecorder {
 public:
  // Puts `store` into synthesis mode; the store must outlive the recorder's use.
  explicit WeightRecorder(WeightStore& store);
  // Every tensor asked for, in first-request order (each name once).
  const std::vector<TensorSpec>& requested() const { return state_->specs; }
  int64_t parameters() const;

 private:
  struct State {
    std::vector<TensorSpec> specs;
    std::vector<std::string> names;  // sorted, for the "each name once" check
  };
  std::shared_ptr<State> state_;
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
