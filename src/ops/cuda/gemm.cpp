// linear on cuBLASLt (bias and, for the tanh GELU in F16/BF16, the activation fused into the
// GEMM's epilogue; cuBLASLt's GELU epilogue is the tanh approximation, so exact-erf GELU, quick
// GELU and SiLU run as a separate pass) and matmul on cublasGemmStridedBatchedEx. F32 accumulation
// always (CUBLAS_COMPUTE_32F: no TF32 for F32 inputs, tensor cores for F16/BF16).
//
// Row-major tensors are column-major transposes: y[M, N] = x[M, K] · w[N, K]ᵀ is, column-major,
// yᵀ (N×M) = op_T(w as K×N) · xᵀ (K×M).
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/cuda_ops.h"
#include "ops/cuda/cuda_util.h"

namespace ipa::ops::cuda {

namespace {

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::F16:
      return CUDA_R_16F;
    case DType::BF16:
      return CUDA_R_16BF;
    default:
      return CUDA_R_32F;
  }
}

// The largest power of two (at most 256) that divides the address: cuBLASLt's heuristic
// assumes 256-byte aligned operands unless told otherwise.
uint32_t alignment(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  uint32_t al = 256;
  while (al > 1 && a % al != 0) al /= 2;
  return al;
}

// A cuBLASLt plan for one linear shape: descriptors and the algorithm the heuristic chose.
struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool usable = false;  // false: no algorithm, use cublasGemmEx + the bias pass
};

using LtKey =
    std::tuple<int, int64_t, int64_t, int64_t, int, int, uint32_t, uint32_t, uint32_t, uint32_t>;

struct LtCache {
  std::mutex mu;  // also held while a plan's descriptor is updated and its matmul queued
  std::map<LtKey, LtPlan> plans;
};

LtCache& lt_cache() {
  static LtCache* cache = new LtCache();  // kept for the process (descriptors are never freed)
  return *cache;
}

std::string linear_detail(int64_t M, int64_t N, int64_t K, DType dt) {
  return "x [" + std::to_string(M) + ", " + std::to_string(K) + "] · w [" + std::to_string(N) +
         ", " + std::to_string(K) + "]ᵀ in " + dtype_name(dt);
}

LtPlan make_plan(Context& ctx, int64_t M, int64_t N, int64_t K, DType dt,
                 cublasLtEpilogue_t epilogue, const uint32_t al[4]) {
  const char* op = "linear";
  auto detail = [&] { return linear_detail(M, N, K, dt); };
  LtPlan p;
  const cudaDataType_t t = cuda_type(dt);
  check(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), op,
        "cublasLtMatmulDescCreate", detail);
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)), op,
        "cublasLtMatmulDescSetAttribute(TRANSA)", detail);
  check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)), op,
        "cublasLtMatmulDescSetAttribute(TRANSB)", detail);
  check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                       sizeof(epilogue)),
        op, "cublasLtMatmulDescSetAttribute(EPILOGUE)", detail);
  check(cublasLtMatrixLayoutCreate(&p.a, t, K, N, K), op, "cublasLtMatrixLayoutCreate(w)", detail);
  check(cublasLtMatrixLayoutCreate(&p.b, t, K, M, K), op, "cublasLtMatrixLayoutCreate(x)", detail);
  check(cublasLtMatrixLayoutCreate(&p.c, t, N, M, N), op, "cublasLtMatrixLayoutCreate(y)", detail);
  cublasLtMatmulPreference_t pref = nullptr;
  check(cublasLtMatmulPreferenceCreate(&pref), op, "cublasLtMatmulPreferenceCreate", detail);
  const uint64_t ws = ctx.workspace_bytes;
  check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                             sizeof(ws)),
        op, "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)", detail);
  const cublasLtMatmulPreferenceAttributes_t align_attr[4] = {
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  for (int i = 0; i < 4; ++i) {
    check(cublasLtMatmulPreferenceSetAttribute(pref, align_attr[i], &al[i], sizeof(al[i])), op,
          "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT)", detail);
  }
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t s =
      cublasLtMatmulAlgoGetHeuristic(ctx.lt, p.desc, p.a, p.b, p.c, p.c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (s == CUBLAS_STATUS_SUCCESS && found > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
    p.algo = result.algo;
    p.usable = true;
  } else if (s != CUBLAS_STATUS_SUCCESS && s != CUBLAS_STATUS_NOT_SUPPORTED) {
    check(s, op, "cublasLtMatmulAlgoGetHeuristic", detail);
  }
  return p;
}

// y = x · wᵀ (+ bias, + GELU-tanh when `epilogue` says so) on cuBLASLt; false when cuBLASLt
// has no algorithm for the shape.
bool lt_linear(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
               int64_t M, int64_t N, int64_t K, cublasLtEpilogue_t epilogue) {
  const uint32_t al[4] = {alignment(w.device_data()), alignment(x.device_data()),
                          alignment(y.device_data()), alignment(y.device_data())};
  const LtKey key{ctx.index,
                  M,
                  N,
                  K,
                  static_cast<int>(y.dtype()),
                  static_cast<int>(epilogue),
                  al[0],
                  al[1],
                  al[2],
                  b.defined() ? alignment(b.device_data()) : 0};
  LtCache& cache = lt_cache();
  std::lock_guard<std::mutex> lock(cache.mu);
  auto it = cache.plans.find(key);
  if (it == cache.plans.end()) {
    if (cache.plans.size() > 4096) cache.plans.clear();  // bounded; leaks a few descriptors
    it = cache.plans.emplace(key, make_plan(ctx, M, N, K, y.dtype(), epilogue, al)).first;
  }
  LtPlan& p = it->second;
  if (!p.usable) return false;
  const char* op = "linear";
  auto detail = [&] { return linear_detail(M, N, K, y.dtype()); };
  if (b.defined()) {
    const void* bias = b.device_data();
    check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                         sizeof(bias)),
          op, "cublasLtMatmulDescSetAttribute(BIAS_POINTER)", detail);
  }
  const float alpha = 1.f, beta = 0.f;
  check(cublasLtMatmul(ctx.lt, p.desc, &alpha, w.device_data(), p.a, x.device_data(), p.b, &beta,
                       y.device_data(), p.c, y.device_data_mutable(), p.c, &p.algo, ctx.workspace,
                       ctx.workspace_bytes, ctx.stream),
        op, "cublasLtMatmul", detail);
  return true;
}

}  // namespace

Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, Activation act) {
  const char* op = "linear";
  // F32 activations with F16/BF16 weights: the weights' dtype is the compute precision, as on
  // the CPU (ops.h): inputs rounded to it, tensor-core product, F32 result. (The result passes
  // through the weights' dtype; bf16 activations end to end would save both conversions.)
  if (x_in.dtype() == DType::F32 && w_in.defined() && w_in.dtype() != DType::F32) {
    return cuda::linear(x_in.to(w_in.dtype()), w_in, b_in, act).to(DType::F32);
  }
  Tensor x = device_input(x_in, op, "x");
  const DType dt = x.dtype();
  if (!w_in.defined()) fail(op, "weight must be defined");
  if (w_in.dim() != 2) fail(op, "weight must be [out, in]", w_in);
  if (x.dim() < 1) fail(op, "x must have at least one dimension", x);
  const int64_t K = w_in.size(1), N = w_in.size(0);
  if (x.size(-1) != K) {
    fail(op,
         "x's last dim must equal weight's in_features " + std::to_string(K) + " (weight " +
             shape_str(w_in.shape()) + ")",
         x);
  }
  Tensor w = operand_as(w_in, dt, x.device(), op, "weight");
  Tensor b;
  if (b_in.defined()) {
    b = operand_as(b_in, dt, x.device(), op, "bias");
    if (b.dim() != 1 || b.size(0) != N) {
      fail(op, "bias must have shape [" + std::to_string(N) + "]", b);
    }
    // cuBLASLt's bias epilogue reads the vector with wide loads and has no alignment
    // preference to state it: a view at an odd offset (a slice of a fused bias) is copied to a
    // fresh, 256-byte aligned block.
    if (alignment(b.device_data()) < 16) b = b.clone();
  }
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor y = Tensor::empty_on(x.device(), out_shape, dt);
  const int64_t M = K > 0 ? x.numel() / K : 0;
  if (M == 0 || N == 0) return y;
  if (K == 0) fail(op, "in_features must be positive", w);
  Context& ctx = context_of(x);
  // The bias (in the output dtype, cuBLASLt's default) is always fused; the tanh GELU only for
  // F16/BF16: F32 results must match the CPU to 1e-5, and the epilogue's tanh is not specified
  // that closely.
  const bool fuse_gelu = act == Activation::GELUTanh && dt != DType::F32;
  const cublasLtEpilogue_t epilogue =
      b.defined() ? (fuse_gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                  : (fuse_gelu ? CUBLASLT_EPILOGUE_GELU : CUBLASLT_EPILOGUE_DEFAULT);
  if (lt_linear(ctx, x, w, b, y, M, N, K, epilogue)) {
    if (!fuse_gelu && act != Activation::None) bias_activation(y, Tensor(), N, 1, act);
    return y;
  }
  const float alpha = 1.f, beta = 0.f;
  const cudaDataType_t t = cuda_type(dt);
  check(cublasGemmEx(ctx.blas, CUBLAS_OP_T, CUBLAS_OP_N, int_arg(N, op), int_arg(M, op),
                     int_arg(K, op), &alpha, w.device_data(), t, int_arg(K, op), x.device_data(), t,
                     int_arg(K, op), &beta, y.device_data_mutable(), t, int_arg(N, op),
                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        op, "cublasGemmEx", [&] { return linear_detail(M, N, K, dt); });
  bias_activation(y, b, N, 1, act);
  return y;
}

Tensor matmul(const Tensor& a_in, const Tensor& b_in, bool trans_b, float alpha) {
  const char* op = "matmul";
  Tensor a = device_input(a_in, op, "a");
  Tensor b = operand_as(b_in, a.dtype(), a.device(), op, "b");
  const MatmulShapes ms = matmul_shapes(a, b, trans_b);
  const int64_t rank = ms.rank, nb = rank - 2, M = ms.M, K = ms.K, N = ms.N;
  const Shape &as = ms.a, &bs = ms.b, &out = ms.out;
  const std::string& shapes = ms.names;
  Tensor y = K == 0 ? Tensor::zeros_on(a.device(), out, a.dtype())
                    : Tensor::empty_on(a.device(), out, a.dtype());
  if (y.numel() == 0 || K == 0) return y;
  // Batch dims [s, nb) must give each operand one stride (all full: the matrix size; all
  // broadcast: 0) for one strided batched call; the dims before s are looped over.
  auto uniform_from = [&](const Shape& xs, int64_t s) {
    bool any_full = false, any_bcast = false;
    for (int64_t d = s; d < nb; ++d) {
      if (out[d] == 1) continue;
      (xs[d] == 1 ? any_bcast : any_full) = true;
    }
    return !(any_full && any_bcast);
  };
  int64_t split = 0;
  while (split < nb && !(uniform_from(as, split) && uniform_from(bs, split))) ++split;
  auto batch_stride = [&](const Shape& xs, int64_t matrix) {
    for (int64_t d = split; d < nb; ++d) {
      if (out[d] != 1 && xs[d] != 1) return matrix;
    }
    return int64_t{0};
  };
  const int64_t a_mat = M * K, b_mat = K * N, y_mat = M * N;
  const int64_t sa = batch_stride(as, a_mat), sb = batch_stride(bs, b_mat);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < split; ++d) outer *= out[d];
  for (int64_t d = split; d < nb; ++d) inner *= out[d];
  const Shape a_st = contiguous_strides(as), b_st = contiguous_strides(bs);
  Context& ctx = context_of(a);
  const cudaDataType_t t = cuda_type(a.dtype());
  const size_t es = dtype_size(a.dtype());
  const float beta = 0.f;
  for (int64_t o = 0; o < outer; ++o) {
    int64_t oa = 0, ob = 0, rem = o;
    for (int64_t d = split - 1; d >= 0; --d) {
      const int64_t idx = rem % out[d];
      rem /= out[d];
      if (as[d] != 1) oa += idx * a_st[d];
      if (bs[d] != 1) ob += idx * b_st[d];
    }
    const char* pa = static_cast<const char*>(a.device_data()) + oa * es;
    const char* pb = static_cast<const char*>(b.device_data()) + ob * es;
    char* py = static_cast<char*>(y.device_data_mutable()) + o * inner * y_mat * es;
    check(cublasGemmStridedBatchedEx(ctx.blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N,
                                     int_arg(N, op), int_arg(M, op), int_arg(K, op), &alpha, pb, t,
                                     int_arg(trans_b ? K : N, op), sb, pa, t, int_arg(K, op), sa,
                                     &beta, py, t, int_arg(N, op), y_mat, int_arg(inner, op),
                                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          op, "cublasGemmStridedBatchedEx", [&] { return shapes; });
  }
  return y;
}

}  // namespace ipa::ops::cuda
