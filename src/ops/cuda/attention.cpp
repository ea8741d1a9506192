// attention: per batch entry and chunk of heads, S = scale · Q·Kᵀ (cuBLAS strided batched over
// heads, F32 output), P = softmax(S + mask) (attention_softmax, P in the inputs' dtype, as
// PyTorch's math path rounds it), O = P·V (cuBLAS) written straight into the packed
// [B, Lq, H·D] output. Tensor cores for F16/BF16 inputs, F32 accumulation throughout. The
// score buffer is at most kScoreBudget bytes (heads are chunked to fit).
//
// Later: a fused flash kernel or cuDNN's SDPA (no score matrix in memory, one launch).
#include <algorithm>
#include <string>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/cuda_util.h"

namespace ipa::ops::cuda {

namespace {

constexpr int64_t kScoreBudget = int64_t{512} << 20;

cudaDataType_t cuda_type(DType t) {
  return t == DType::F16 ? CUDA_R_16F : t == DType::BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

}  // namespace

Tensor attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, int heads, float scale,
                 const Tensor& mask_in) {
  const char* op = "attention";
  Tensor q = device_input(q_in, op, "q"), k = device_input(k_in, op, "k"),
         v = device_input(v_in, op, "v");
  check_attention_ranks(q, k, v);
  const DType dt = q.dtype();
  if (k.dtype() != dt || v.dtype() != dt || !(k.device() == q.device()) ||
      !(v.device() == q.device())) {
    fail(op, "q " + q.describe() + ", k " + k.describe() + " and v " + v.describe() +
                 " must share dtype and device");
  }
  const AttentionDims ad = attention_dims(q, k, v, heads);
  const int64_t B = ad.B, Lq = ad.Lq, Lk = ad.Lk, HD = ad.HD, H = ad.H, D = ad.D;
  Tensor mask;
  if (mask_in.defined()) {
    if (!(mask_in.device() == q.device())) fail(op, "mask must be on q's device", mask_in);
    mask = mask_in.contiguous();
  }
  MaskView mv = attention_mask_view(mask, B, H, Lq, Lk);
  if (mask.defined()) mv.data = static_cast<const float*>(mask.device_data());
  Tensor out = Tensor::empty_on(q.device(), {B, Lq, HD}, dt);
  if (out.numel() == 0) return out;
  if (Lk == 0) fail(op, "k and v have no tokens", k);

  Context& ctx = context_of(q);
  const int64_t chunk = std::clamp<int64_t>(kScoreBudget / (Lq * Lk * 4), 1, H);
  Tensor s = Tensor::empty_on(q.device(), {chunk, Lq, Lk}, DType::F32);
  // F32 inputs: the probabilities overwrite the scores in place.
  Tensor p = dt == DType::F32 ? s : Tensor::empty_on(q.device(), {chunk, Lq, Lk}, dt);
  const cudaDataType_t t = cuda_type(dt);
  const size_t es = dtype_size(dt);
  const float zero = 0.f, one = 1.f;
  auto i32 = [](int64_t x) { return int_arg(x, "attention"); };
  auto detail = [&] {
    return "q " + q.describe() + ", k " + k.describe() + ", " + std::to_string(H) + " heads";
  };
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h0 = 0; h0 < H; h0 += chunk) {
      const int64_t n = std::min(chunk, H - h0);
      const int64_t q_off = (b * Lq * HD + h0 * D) * es, kv_off = (b * Lk * HD + h0 * D) * es;
      const char* qp = static_cast<const char*>(q.device_data()) + q_off;
      const char* kp = static_cast<const char*>(k.device_data()) + kv_off;
      const char* vp = static_cast<const char*>(v.device_data()) + kv_off;
      char* op_ = static_cast<char*>(out.device_data_mutable()) + q_off;
      // Column-major: Sᵀ (Lk×Lq) = op_T(K as D×Lk) · (Q as D×Lq), per head stride D.
      check(cublasGemmStridedBatchedEx(ctx.blas, CUBLAS_OP_T, CUBLAS_OP_N, i32(Lk), i32(Lq), i32(D),
                                       &scale, kp, t, i32(HD), D, qp, t, i32(HD), D, &zero,
                                       s.device_data_mutable(), CUDA_R_32F, i32(Lk), Lq * Lk,
                                       i32(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            op, "cublasGemmStridedBatchedEx(QKᵀ)", detail);
      attention_softmax(s, p.device_data_mutable(), dt, n, Lq, Lk, b, h0, mv);
      // Oᵀ (D×Lq) = (V as D×Lk) · (P as Lk×Lq), written with row stride H·D.
      check(cublasGemmStridedBatchedEx(ctx.blas, CUBLAS_OP_N, CUBLAS_OP_N, i32(D), i32(Lq), i32(Lk),
                                       &one, vp, t, i32(HD), D, p.device_data(), t, i32(Lk),
                                       Lq * Lk, &zero, op_, t, i32(HD), D, i32(n),
                                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            op, "cublasGemmStridedBatchedEx(PV)", detail);
    }
  }
  return out;
}

}  // namespace ipa::ops::cuda
