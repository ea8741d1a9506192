// ops::attention: argument checks, then the flash kernel built for the widest instruction set
// the CPU runs (attention_kernel.h; attention_avx2.cpp, attention_avx512.cpp), or with bf16
// products where the caller computes in bf16 and the CPU has avx512_bf16
// (attention_bf16_avx512.cpp).
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/attention_problem.h"
#include "ops/cpu/cpu_util.h"
#include "ops/profile.h"

namespace ipa::ops {

using namespace cpu;

namespace cpu {
namespace {
bool runs_bf16(Isa isa, DType compute) {
  return compute == DType::BF16 && isa == Isa::Avx512 && attention_bf16_supported();
}
}  // namespace
}  // namespace cpu

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                 const Tensor& mask, DType compute) {
  // A device backend picks its own precision from the inputs' dtype.
  if (Backend* be = backend_for("attention", {&q, &k, &v, &mask})) {
    return be->attention(q, k, v, heads, scale, mask);
  }
  return cpu::attention_on(active_isa(), q, k, v, heads, scale, mask, compute);
}

namespace cpu {

Tensor attention_on(Isa isa, const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, int heads,
                    float scale, const Tensor& mask_in, DType compute) {
  const char* op = "attention";
  if (compute != DType::F32 && compute != DType::BF16) {
    throw Error(std::string("attention: compute dtype must be F32 or BF16, got ") +
                dtype_name(compute));
  }
  // Profiled apart when the bf16 kernel runs: `ipadapter bench` compares it with the bf16 peak.
  profile::OpScope prof(runs_bf16(isa, compute) ? "attention_bf16" : "attention");
  Tensor q = f32_input(q_in, op, "q"), k = f32_input(k_in, op, "k"), v = f32_input(v_in, op, "v");
  const AttentionDims ad = attention_dims(q, k, v, heads);
  const int64_t B = ad.B, Lq = ad.Lq, Lk = ad.Lk, HD = ad.HD, H = ad.H, D = ad.D;
  Tensor mask = mask_in.defined() ? mask_in.contiguous() : Tensor();
  const MaskView mv = attention_mask_view(mask, B, H, Lq, Lk);
  Tensor out = Tensor::empty({B, Lq, HD});
  if (out.numel() == 0) return out;
  prof.set_flops(4.0 * static_cast<double>(B) * static_cast<double>(Lq) * static_cast<double>(Lk) *
                 static_cast<double>(HD));
  if (Lk == 0) {
    fail(op, "k and v have no tokens", k);
  }
  AttentionProblem p;
  p.q = q.data<float>();
  p.k = k.data<float>();
  p.v = v.data<float>();
  p.out = out.data<float>();
  p.B = B;
  p.H = H;
  p.Lq = Lq;
  p.Lk = Lk;
  p.D = D;
  p.scale = scale;
  if (mask.defined()) {
    p.mask = mask.data<float>();
    p.mask_sb = mv.sb;
    p.mask_sh = mv.sh;
    p.mask_si = mv.si;
    p.mask_sj = mv.sj;
  }
  // Scratch for the packed K and V panels (see attention_kernel.h), from the block pool.
  const int64_t kpanel = (Lk + 3) / 4 * D * 4, vpanel = (D + 3) / 4 * Lk * 4;
  Tensor kpack = Tensor::empty({B * H * kpanel}), vpack = Tensor::empty({B * H * vpanel});
  p.k_pack = kpack.data<float>();
  p.v_pack = vpack.data<float>();
  run_attention(isa, p, compute);
  return out;
}

bool attention_bf16_supported() {
  static const bool supported = best_isa() == Isa::Avx512 && __builtin_cpu_supports("avx512bf16") &&
                                __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vl");
  return supported;
}

void run_attention(Isa isa, const AttentionProblem& p, DType compute) {
  if (isa == Isa::Avx512) {
    if (best_isa() != Isa::Avx512) throw Error("attention: this CPU has no AVX-512");
    if (runs_bf16(isa, compute)) {
      attention_bf16_avx512(p);
    } else {
      attention_avx512(p);
    }
  } else {
    attention_avx2(p);
  }
}

}  // namespace cpu
}  // namespace ipa::ops
