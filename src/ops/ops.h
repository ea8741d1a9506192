// The operations the models need, with PyTorch semantics, forward only.
// Inputs are F32 unless stated (strided inputs are accepted and made contiguous); results are
// fresh contiguous F32 tensors from the block pool. Every oneDNN call lives in src/ops/cpu/.
#pragma once
#include <vector>

#include "ipadapter/types.h"
#include "tensor/tensor.h"

namespace ipa::ops {

// ---- runtime settings -------------------------------------------------------------------
// Threads used by oneDNN and our own kernels (one OpenMP runtime) on the calling thread.
int num_threads();
// Sets the calling thread's OpenMP thread count for its lifetime, then restores it; 0 keeps
// the current count. Engines wrap their work in one, so two engines in two threads may use
// different counts.
class ThreadScope {
 public:
  explicit ThreadScope(int threads);
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int previous_ = 0;
};
// Compute precision is a property of the weights: linear and conv2d compute in bf16 (bf16
// inputs and weights, F32 accumulation, F32 at the interface) when their weights are BF16,
// else in F32. Models choose it at load (WeightStore::set_layer_dtype).
bool cpu_has_bf16();
// Throws ipa::Error saying why when `p` cannot run on this CPU.
void require_precision(Precision p);
// Whether the CPU has AMX bf16 tiles.
bool cpu_has_amx_bf16();
// The widest vector ISA our kernels and oneDNN use here: "avx512" or "avx2". The environment
// variable ONEDNN_MAX_CPU_ISA (e.g. AVX2) caps it, and then bf16 is unavailable: one knob to
// run and measure an AVX-512 machine's AVX2 code.
const char* cpu_vector_isa();
// Seconds for one bf16 and one F32 linear of a UNet shape ([4096, 320] x [1280, 320]ᵀ) on the
// calling thread's OpenMP threads, interleaved, best of 5 after a warm-up. Needs cpu_has_bf16().
struct PrecisionTimings {
  double f32_s = 0, bf16_s = 0;
};
PrecisionTimings measure_linear_precisions();

enum class Activation { None, GELU, GELUTanh, QuickGELU, SiLU };

// ---- linear algebra ---------------------------------------------------------------------
// x [..., in] · w[out, in]ᵀ + b[out] (b may be undefined), then the activation; in bf16 when
// w is BF16.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = {},
              Activation act = Activation::None);
// Batched a[..., M, K] · b[..., K, N] (b[..., N, K] when trans_b) · alpha; batch dims equal
// or 1 (broadcast).
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_b = false, float alpha = 1.f);

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int dilation_h = 1, dilation_w = 1;
  int groups = 1;
  static Conv2dParams same(int stride, int pad) {
    Conv2dParams p;
    p.stride_h = p.stride_w = stride;
    p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = pad;
    return p;
  }
};
// x [N, C, H, W], w [O, C/groups, kh, kw] (F32, or BF16 for a bf16 convolution), b [O] or
// undefined → [N, O, H', W'].
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p);

// ---- channels-last activations ----------------------------------------------------------
// A channels-last tensor is a logical [N, C, H, W] view whose storage is [N, H, W, C] (strides
// H·W·C, 1, W·C, C): the layout oneDNN's convolutions compute in on AVX-512. conv2d layers,
// group_norm, add (of two such tensors), add_ (into one), scale, the pointwise activations,
// concat along C (of such tensors) and upsample_nearest keep it (their output has the layout
// of their input), so a chain of them skips the transposes a convolution otherwise makes on
// its way in and out. Every other op reads such a tensor as the strided view it is.
bool is_channels_last(const Tensor& x);  // false for contiguous tensors
// A channels-last copy of x [N, C, H, W] (x itself when it already is one).
Tensor to_channels_last(const Tensor& x);
// Uninitialised channels-last [N, C, H, W] from the block pool.
Tensor empty_channels_last(const Shape& nchw);

// ---- normalisation ----------------------------------------------------------------------
// x [N, C, *], statistics per (n, group); gamma/beta [C]; optional fused SiLU. A channels-last
// x gives a channels-last result.
Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                  bool fuse_silu = false);
// Over the last dim; gamma/beta [D] (may be undefined → no affine).
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
// Softmax over the last dim, F32 accumulation.
Tensor softmax(const Tensor& x);

// ---- attention --------------------------------------------------------------------------
// q [B, Lq, H*D], k and v [B, Lk, H*D] (heads packed like diffusers' to_q output), scale
// applied to q·kᵀ; mask (optional, additive, F32) broadcastable to [B, H, Lq, Lk] — pass
// [Lq, Lk], [B, 1, Lq, Lk] or [B, H, Lq, Lk]. Returns [B, Lq, H*D]. Flash-style: online
// softmax over key blocks, memory O(Lq · block), F32 accumulation. compute BF16 (a layer that
// computes in bf16: its projections' weights are BF16) rounds Q, K, V and the softmax
// probabilities to bf16 for the two products, where the CPU has avx512_bf16 (elsewhere, and
// with ONEDNN_MAX_CPU_ISA below AVX-512, it computes in F32); inputs and result stay F32.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                 const Tensor& mask = {}, DType compute = DType::F32);

// ---- activations ------------------------------------------------------------------------
Tensor activation(const Tensor& x, Activation act);
Tensor gelu(const Tensor& x);  // exact erf
Tensor gelu_tanh(const Tensor& x);
Tensor quick_gelu(const Tensor& x);  // x * sigmoid(1.702 x)
Tensor silu(const Tensor& x);
// x [..., 2N] → x[..., :N] * gelu(x[..., N:])  (diffusers GEGLU after its proj)
Tensor geglu(const Tensor& x);

// ---- elementwise (numpy broadcasting) ---------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& a, float s);
// a + s · b, same shapes (the IP branch's `text + scale · ip`).
Tensor add_scaled(const Tensor& a, const Tensor& b, float s);
// In place: a += b (b broadcast to a's shape). `a` must be writable and contiguous.
void add_(Tensor& a, const Tensor& b);

// ---- shape ------------------------------------------------------------------------------
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
// Contiguous copies of views (Tensor::narrow / permute give the view).
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);

// ---- lookups and misc -------------------------------------------------------------------
// table [V, D] (any float dtype), ids I64/I32 [...] → [..., D]; ids out of range throw.
Tensor embedding(const Tensor& table, const Tensor& ids);
// I64 indices of the maximum along dim (first maximum on ties), dim removed.
Tensor argmax(const Tensor& x, int64_t dim);
// Nearest-neighbour upsample of x [N, C, H, W] to [N, C, out_h, out_w] (torch "nearest":
// src = floor(dst · in / out)). A channels-last x gives a channels-last result.
Tensor upsample_nearest(const Tensor& x, int64_t out_h, int64_t out_w);
// diffusers get_timestep_embedding: t [B] → [B, dim].
Tensor timestep_embedding(const Tensor& t, int64_t dim, bool flip_sin_to_cos, float freq_shift,
                          float max_period = 10000.f);
enum class Interp { Nearest, Bilinear, Bicubic };
// torch.nn.functional.interpolate(x [N, C, H, W], size=(out_h, out_w), mode, align_corners)
// (antialias=False). align_corners is ignored for Nearest.
Tensor interpolate(const Tensor& x, int64_t out_h, int64_t out_w, Interp mode,
                   bool align_corners = false);

}  // namespace ipa::ops
