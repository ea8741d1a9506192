// Threads and the CPU's precision support: one OpenMP runtime governs oneDNN and our kernels.
#include <omp.h>

#include <algorithm>
#include <chrono>

#include "ops/cpu/isa.h"
#include "ops/layers.h"
#include "ops/ops.h"

namespace ipa::ops {

int num_threads() {
  return omp_get_max_threads();
}

ThreadScope::ThreadScope(int threads) : previous_(omp_get_max_threads()) {
  if (threads < 0) throw Error("thread count must be at least 1, got " + std::to_string(threads));
  if (threads > 0) omp_set_num_threads(threads);
}

ThreadScope::~ThreadScope() {
  omp_set_num_threads(previous_);
}

// Both obey ONEDNN_MAX_CPU_ISA (cpu::best_isa): a cap below AVX-512 leaves oneDNN no bf16.
bool cpu_has_amx_bf16() {
  return !cpu::isa_capped_below_avx512() && __builtin_cpu_supports("amx-bf16");
}

bool cpu_has_bf16() {
  return !cpu::isa_capped_below_avx512() &&
         (__builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16"));
}

const char* cpu_vector_isa() {
  return cpu::isa_name(cpu::best_isa());
}

void require_precision(Precision p) {
  if (p == Precision::BF16 && !cpu_has_bf16()) {
    throw Error("bf16 precision needs a CPU with avx512_bf16 or AMX; this one has neither");
  }
}

PrecisionTimings measure_linear_precisions() {
  require_precision(Precision::BF16);
  const Tensor x = Tensor::full({4096, 320}, 0.5f);
  const Tensor w = Tensor::full({1280, 320}, 0.01f);
  // The layers the models use (weights packed once, as in a UNet step).
  const Linear f32(w, Tensor()), bf16(w.to(DType::BF16), Tensor());
  auto seconds = [&](const Linear& layer) {
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor y = layer(x);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  seconds(f32);  // create the primitives and pack the weights
  seconds(bf16);
  // Interleaved, best of 5 each: other load on the machine slows both alike.
  PrecisionTimings t{1e30, 1e30};
  for (int run = 0; run < 5; ++run) {
    t.f32_s = std::min(t.f32_s, seconds(f32));
    t.bf16_s = std::min(t.bf16_s, seconds(bf16));
  }
  return t;
}

}  // namespace ipa::ops
