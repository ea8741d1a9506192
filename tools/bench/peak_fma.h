// The machine's FP32 FMA ceiling: independent FMA chains of the widest vectors the CPU runs
// (16 floats with AVX-512, else 8), no memory traffic. Used by ops_bench (BM_peak_fma) and
// `ipadapter bench` so both compare against the same kernel — and against the true peak: a
// 256-bit probe reads half of it on AVX-512 machines.
#pragma once
#include <cstdint>

namespace ipa::bench {

// Floats per FMA of the widest vector extension this CPU runs (16: AVX-512F; 8: AVX2+FMA).
int fma_lanes();
// "avx512" or "avx2".
const char* fma_isa();
// One thread: `iters` rounds of kFmaChains independent fma_lanes()-wide FMAs. Returns a value
// that depends on every chain (so the work cannot be optimised away).
float fma_chains(int64_t iters, float seed);
inline constexpr int kFmaChains = 12;
// FLOPs of one fma_chains(iters) call: 2 · lanes · chains · iters.
inline double fma_chains_flops(int64_t iters) {
  return 2.0 * fma_lanes() * kFmaChains * static_cast<double>(iters);
}

// GFLOP/s of fma_chains on `threads` OpenMP threads (0 = ops::num_threads()), best of
// `repeats` wall-clock runs of about `seconds_per_run` each.
double measure_peak_fma_gflops(int threads = 0, double seconds_per_run = 0.2, int repeats = 3);

// One thread: `iters` rounds of kBf16Chains independent 512-bit vdpbf16ps (16 lanes × 2
// products, 64 FLOP each); twice the FMA chains, as vdpbf16ps has a longer latency than an FMA
// on some cores (Zen 4/5). Needs has_bf16_chains() (avx512_bf16, AVX-512 not capped).
bool has_bf16_chains();
float dpbf16_chains(int64_t iters, float seed);
inline constexpr int kBf16Chains = 2 * kFmaChains;
inline double dpbf16_chains_flops(int64_t iters) {
  return 64.0 * kBf16Chains * static_cast<double>(iters);
}

// The bf16 ceiling the same way: independent chains of 512-bit bf16 dot products
// (vdpbf16ps: 16 lanes × 2 products, 64 FLOP each). 0 where the CPU has no avx512_bf16. (AMX
// tiles, which oneDNN uses where the OS enables them, can exceed it; not probed.)
double measure_peak_bf16_gflops(int threads = 0, double seconds_per_run = 0.2, int repeats = 3);

}  // namespace ipa::bench
