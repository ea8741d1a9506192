// Google Benchmark targets for the CPU op layer at the SD1.5 512x512 shapes (batch 2, the CFG
// pair). Compute-bound ops report GFLOPS (FLOP/s from the nominal FLOP count), memory-bound ops
// GB/s (compulsory traffic: each input read once, the output written once). BM_peak_fma and
// BM_stream_* give this machine's ceilings to compare against. Times are wall clock (the ops
// are multi-threaded).
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "bench/peak_fma.h"
#include "ops/layers.h"
#include "ops/ops.h"

namespace {

using ipa::Shape;
using ipa::Tensor;
namespace ops = ipa::ops;

Tensor random_tensor(const Shape& shape, float scale = 1.f, uint32_t seed = 1) {
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

// Wall-clock time by default (the ops are multi-threaded). On a machine shared with other
// work, IPA_BENCH_CPU_TIME=1 measures process CPU time instead; with OMP_NUM_THREADS=1 that
// gives the per-core efficiency of a kernel without the time it spent preempted.
void timing(benchmark::internal::Benchmark* b) {
  const char* env = std::getenv("IPA_BENCH_CPU_TIME");
  if (env && env[0] == '1') {
    b->MeasureProcessCPUTime();
  } else {
    b->UseRealTime();
  }
  b->Unit(benchmark::kMillisecond);
}

void set_flops(benchmark::State& state, double flops_per_iter) {
  state.counters["GFLOPS"] =
      benchmark::Counter(flops_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
void set_bytes(benchmark::State& state, double bytes_per_iter) {
  state.counters["GB/s"] =
      benchmark::Counter(bytes_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// ---- machine ceilings -------------------------------------------------------------------

void BM_peak_fma(benchmark::State& state) {
  const int64_t iters = 1 << 22;  // per thread per benchmark iteration
  const int threads = ops::num_threads();
  float sink = 0;
  for (auto _ : state) {
#pragma omp parallel reduction(+ : sink)
    sink += ipa::bench::fma_chains(iters, 1.f + omp_get_thread_num());
    benchmark::DoNotOptimize(sink);
  }
  set_flops(state, ipa::bench::fma_chains_flops(iters) * threads);
  state.counters["threads"] = threads;
}
BENCHMARK(BM_peak_fma)->Apply(timing);

// The bf16 dot-product ceiling (512-bit vdpbf16ps chains), where the CPU has avx512_bf16.
void BM_peak_bf16(benchmark::State& state) {
  if (!ipa::bench::has_bf16_chains()) {
    state.SkipWithError("no avx512_bf16 (or AVX-512 capped) on this CPU");
    return;
  }
  const int64_t iters = 1 << 21;  // per thread per benchmark iteration
  const int threads = ops::num_threads();
  float sink = 0;
  for (auto _ : state) {
#pragma omp parallel reduction(+ : sink)
    sink += ipa::bench::dpbf16_chains(iters, 1.f + omp_get_thread_num());
    benchmark::DoNotOptimize(sink);
  }
  set_flops(state, ipa::bench::dpbf16_chains_flops(iters) * threads);
  state.counters["threads"] = threads;
}
BENCHMARK(BM_peak_bf16)->Apply(timing);

// Stream copy and triad on all threads: the bandwidth ceiling for the memory-bound ops.
// Arg = MiB per array (10 MiB ~ one SD1.5 64x64x320 activation; 256 MiB is well past L3).
void BM_stream_copy(benchmark::State& state) {
  const int64_t n = state.range(0) * (1 << 20) / 4;
  std::vector<float> a(n, 1.f), b(n, 2.f);
  for (auto _ : state) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) b[i] = a[i];
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 2.0 * 4 * n);
}
BENCHMARK(BM_stream_copy)->Arg(10)->Arg(256)->Apply(timing);

void BM_stream_triad(benchmark::State& state) {
  const int64_t n = state.range(0) * (1 << 20) / 4;
  std::vector<float> a(n, 1.f), b(n, 2.f), c(n, 0.f);
  for (auto _ : state) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) c[i] = a[i] + 0.5f * b[i];
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 3.0 * 4 * n);
}
BENCHMARK(BM_stream_triad)->Arg(10)->Arg(256)->Apply(timing);

// ---- convolutions (ops::Conv2d: plan + packed weights cached per input shape) -----------

void conv_bench(benchmark::State& state, int64_t C, int64_t HW, int k) {
  const int64_t N = 2;
  const ops::Conv2d conv(random_tensor({C, C, k, k}, 0.05f, 2), random_tensor({C}, 0.1f, 3),
                         ops::Conv2dParams::same(1, k / 2));
  const Tensor x = random_tensor({N, C, HW, HW});
  benchmark::DoNotOptimize(conv(x));  // plan + weight packing outside the timing
  for (auto _ : state) benchmark::DoNotOptimize(conv(x));
  set_flops(state, 2.0 * N * C * HW * HW * C * k * k);
}
void BM_conv3x3(benchmark::State& state) {
  conv_bench(state, state.range(0), state.range(1), 3);
}
BENCHMARK(BM_conv3x3)
    ->ArgsProduct({{320}, {64}})
    ->ArgsProduct({{640}, {32}})
    ->ArgsProduct({{1280}, {16}})
    ->ArgNames({"C", "HW"})
    ->Apply(timing);
void BM_conv1x1(benchmark::State& state) {
  conv_bench(state, state.range(0), state.range(1), 1);
}
BENCHMARK(BM_conv1x1)->ArgsProduct({{320}, {64}})->ArgNames({"C", "HW"})->Apply(timing);

// ---- linear ------------------------------------------------------------------------------

void BM_linear(benchmark::State& state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  const ops::Linear lin(random_tensor({N, K}, 0.05f, 2), random_tensor({N}, 0.1f, 3));
  const Tensor x = random_tensor({2, M / 2, K});
  benchmark::DoNotOptimize(lin(x));
  for (auto _ : state) benchmark::DoNotOptimize(lin(x));
  set_flops(state, 2.0 * M * K * N);
}
BENCHMARK(BM_linear)
    ->Args({8192, 320, 1280})
    ->Args({8192, 1280, 320})
    ->Args({8192, 320, 320})
    ->ArgNames({"M", "K", "N"})
    ->Apply(timing);

// ---- attention ---------------------------------------------------------------------------

void attention_bench(benchmark::State& state, int64_t Lq, int64_t Lk, int64_t H, int64_t D,
                     ipa::DType compute = ipa::DType::F32) {
  const int64_t B = 2;
  const Tensor q = random_tensor({B, Lq, H * D}, 1.f, 4);
  const Tensor k = random_tensor({B, Lk, H * D}, 1.f, 5);
  const Tensor v = random_tensor({B, Lk, H * D}, 1.f, 6);
  const float scale = 1.f / std::sqrt(static_cast<float>(D));
  for (auto _ : state)
    benchmark::DoNotOptimize(ops::attention(q, k, v, static_cast<int>(H), scale, {}, compute));
  set_flops(state, 4.0 * B * H * Lq * Lk * D);
}
void BM_self_attention(benchmark::State& state) {
  attention_bench(state, state.range(0), state.range(0), state.range(1), state.range(2));
}
BENCHMARK(BM_self_attention)
    ->Args({4096, 8, 40})
    ->Args({1024, 8, 80})
    ->Args({256, 8, 160})
    ->Args({1024, 8, 64})
    ->Args({4096, 10, 64})  // SDXL 128x128 latent (1024² images), first down/up level
    ->Args({1024, 20, 64})  // SDXL 64x64 level
    ->ArgNames({"L", "H", "D"})
    ->Apply(timing);
void BM_cross_attention(benchmark::State& state) {
  attention_bench(state, state.range(0), state.range(1), state.range(2), state.range(3));
}
BENCHMARK(BM_cross_attention)
    ->Args({4096, 77, 8, 40})
    ->Args({4096, 4, 8, 40})   // IP-Adapter image tokens
    ->Args({4096, 16, 8, 40})  // IP-Adapter Plus image tokens
    ->ArgNames({"Lq", "Lk", "H", "D"})
    ->Apply(timing);
// The same calls computing in bf16 (a bf16 UNet's attention; compare with BM_peak_bf16).
void BM_bf16_attention(benchmark::State& state) {
  if (!ipa::bench::has_bf16_chains()) {
    state.SkipWithError("no avx512_bf16 (or AVX-512 capped) on this CPU");
    return;
  }
  attention_bench(state, state.range(0), state.range(1), state.range(2), state.range(3),
                  ipa::DType::BF16);
}
BENCHMARK(BM_bf16_attention)
    ->Args({4096, 4096, 8, 40})   // SD1.5 64x64 self-attention
    ->Args({4096, 4096, 10, 64})  // SDXL 128x128
    ->Args({1024, 1024, 20, 64})  // SDXL 64x64
    ->Args({1024, 1024, 8, 80})
    ->Args({256, 256, 8, 160})
    ->Args({4096, 77, 8, 40})  // cross-attention
    ->ArgNames({"Lq", "Lk", "H", "D"})
    ->Apply(timing);

// ---- memory-bound ------------------------------------------------------------------------

void BM_group_norm(benchmark::State& state) {
  const int64_t C = state.range(0), HW = state.range(1);
  const bool silu = state.range(2) != 0;
  ops::GroupNorm gn;
  gn.weight = random_tensor({C}, 1.f, 2);
  gn.bias = random_tensor({C}, 1.f, 3);
  const Tensor x = random_tensor({2, C, HW, HW});
  for (auto _ : state) benchmark::DoNotOptimize(gn(x, silu));
  set_bytes(state, 2.0 * 4 * x.numel());
}
BENCHMARK(BM_group_norm)
    ->Args({320, 64, 0})
    ->Args({320, 64, 1})
    ->ArgNames({"C", "HW", "silu"})
    ->Apply(timing);

// The VAE decoder's group norms (one image, SiLU fused), NCHW against channels-last.
void BM_group_norm_vae(benchmark::State& state) {
  const int64_t C = state.range(0), HW = state.range(1);
  ops::GroupNorm gn;
  gn.weight = random_tensor({C}, 1.f, 2);
  gn.bias = random_tensor({C}, 1.f, 3);
  Tensor x = random_tensor({1, C, HW, HW});
  if (state.range(2) != 0) x = ops::to_channels_last(x);
  for (auto _ : state) benchmark::DoNotOptimize(gn(x, true));
  set_bytes(state, 2.0 * 4 * x.numel());
}
BENCHMARK(BM_group_norm_vae)
    ->Args({512, 128, 0})
    ->Args({512, 128, 1})
    ->Args({128, 512, 0})
    ->Args({128, 512, 1})
    ->ArgNames({"C", "HW", "channels_last"})
    ->Apply(timing);

void BM_layer_norm(benchmark::State& state) {
  const int64_t M = state.range(0), D = state.range(1);
  ops::LayerNorm ln;
  ln.weight = random_tensor({D}, 1.f, 2);
  ln.bias = random_tensor({D}, 1.f, 3);
  const Tensor x = random_tensor({2, M / 2, D});
  for (auto _ : state) benchmark::DoNotOptimize(ln(x));
  set_bytes(state, 2.0 * 4 * x.numel());
}
BENCHMARK(BM_layer_norm)->Args({8192, 320})->ArgNames({"M", "D"})->Apply(timing);

void BM_add(benchmark::State& state) {
  const int64_t C = state.range(0), HW = state.range(1);
  const Tensor a = random_tensor({2, C, HW, HW}, 1.f, 2), b = random_tensor({2, C, HW, HW});
  for (auto _ : state) benchmark::DoNotOptimize(ops::add(a, b));
  set_bytes(state, 3.0 * 4 * a.numel());
}
BENCHMARK(BM_add)->Args({320, 64})->ArgNames({"C", "HW"})->Apply(timing);

void BM_geglu(benchmark::State& state) {
  const int64_t M = state.range(0), N = state.range(1);
  const Tensor x = random_tensor({2, M / 2, 2 * N}, 3.f);
  for (auto _ : state) benchmark::DoNotOptimize(ops::geglu(x));
  set_bytes(state, 4.0 * (2 * N + N) * M);
}
BENCHMARK(BM_geglu)->Args({8192, 1280})->ArgNames({"M", "N"})->Apply(timing);

void BM_gelu(benchmark::State& state) {
  const Tensor x = random_tensor({state.range(0)}, 3.f);
  for (auto _ : state) benchmark::DoNotOptimize(ops::gelu(x));
  set_bytes(state, 2.0 * 4 * x.numel());
}
BENCHMARK(BM_gelu)->Arg(8192 * 1280)->Apply(timing);

void BM_silu(benchmark::State& state) {
  const Tensor x = random_tensor({state.range(0)}, 3.f);
  for (auto _ : state) benchmark::DoNotOptimize(ops::silu(x));
  set_bytes(state, 2.0 * 4 * x.numel());
}
BENCHMARK(BM_silu)->Arg(2 * 320 * 64 * 64)->Apply(timing);

}  // namespace
