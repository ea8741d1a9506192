// One attention call as the per-ISA kernels see it (attention_kernel.h): checked, contiguous
// F32 inputs and scratch for the packed keys and values.
#pragma once
#include <cstdint>

#include "ops/cpu/isa.h"
#include "tensor/tensor.h"

namespace ipa::ops::cpu {

struct AttentionProblem {
  const float* q = nullptr;  // [B, Lq, H·D]
  const float* k = nullptr;  // [B, Lk, H·D]
  const float* v = nullptr;  // [B, Lk, H·D]
  float* out = nullptr;      // [B, Lq, H·D]
  int64_t B = 0, H = 0, Lq = 0, Lk = 0, D = 0;
  float scale = 1.f;
  // Additive mask broadcast to [B, H, Lq, Lk] by element strides (0 where broadcast); null for
  // none.
  const float* mask = nullptr;
  int64_t mask_sb = 0, mask_sh = 0, mask_si = 0, mask_sj = 0;
  float* k_pack = nullptr;  // B·H · ⌈Lk/4⌉·D·4 floats
  float* v_pack = nullptr;  // B·H · ⌈D/4⌉·Lk·4 floats
};

// The kernel built for each instruction set.
void attention_avx2(const AttentionProblem& p);
void attention_avx512(const AttentionProblem& p);
// Both products in bf16 (vdpbf16ps): needs avx512_bf16 (attention_bf16_avx512.cpp).
void attention_bf16_avx512(const AttentionProblem& p);
// Whether attention_bf16_avx512 runs here: AVX-512 with BF16, BW and VL, not capped by
// ONEDNN_MAX_CPU_ISA.
bool attention_bf16_supported();

// The variant for `isa` (tests run every supported one); compute BF16 takes the bf16 kernel
// where isa is AVX-512 and attention_bf16_supported(), else the F32 one.
void run_attention(Isa isa, const AttentionProblem& p, DType compute = DType::F32);
// ops::attention with the kernel built for `isa` (ops::attention uses active_isa()).
Tensor attention_on(Isa isa, const Tensor& q, const Tensor& k, const Tensor& v, int heads,
                    float scale, const Tensor& mask = {}, DType compute = DType::F32);

}  // namespace ipa::ops::cpu
