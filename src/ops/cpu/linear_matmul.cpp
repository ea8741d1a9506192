// linear and matmul on oneDNN's matmul primitive. The models call the same few shapes over
// and over, so primitives are cached by their full description.
#include <cstring>
#include <map>
#include <mutex>

#include "ops/cpu/cpu_util.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/cpu/linear_impl.h"
#include "ops/profile.h"

namespace ipa::ops {

using namespace cpu;
using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

// Primitive cache keyed by everything that defines the primitive.
class MatmulCache {
 public:
  template <typename Make>
  dnnl::matmul get(const std::vector<int64_t>& key, Make make) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) return it->second;
    if (map_.size() > 4096) map_.clear();  // models use few shapes; stay bounded anyway
    dnnl::matmul prim = make();
    map_.emplace(key, prim);
    return prim;
  }

 private:
  std::mutex mu_;
  std::map<std::vector<int64_t>, dnnl::matmul> map_;
};

MatmulCache& primitive_cache() {
  static MatmulCache c;
  return c;
}

void append_activation(dnnl::post_ops& po, Activation act) {
  switch (act) {
    case Activation::None:
      break;
    case Activation::GELU:
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
      break;
    case Activation::GELUTanh:
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_gelu_tanh, 0.f, 0.f);
      break;
    case Activation::QuickGELU:  // x · sigmoid(1.702 x) is swish with alpha 1.702
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_swish, 1.702f, 0.f);
      break;
    case Activation::SiLU:
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_swish, 1.f, 0.f);
      break;
  }
}

dnnl::matmul::primitive_desc make_matmul_desc(const char* op, const memory::desc& src,
                                              const memory::desc& wei, const memory::desc* bias,
                                              const memory::desc& dst,
                                              const dnnl::primitive_attr& attr) {
  try {
    auto d = bias ? dnnl::matmul::desc(src, wei, *bias, dst) : dnnl::matmul::desc(src, wei, dst);
    return dnnl::matmul::primitive_desc(d, dnnl_attr(attr), dnnl_engine());
  } catch (const dnnl::error& e) {
    const bool bf16 = src.data_type() == dt::bf16;
    throw Error(std::string(op) + ": oneDNN cannot build a" + (bf16 ? " bf16" : "n f32") +
                " matmul for a " + shape_str(src.dims()) + " by " + shape_str(wei.dims()) + ": " +
                e.what());
  }
}

dnnl::matmul make_matmul(const char* op, const memory::desc& src, const memory::desc& wei,
                         const memory::desc* bias, const memory::desc& dst,
                         const dnnl::primitive_attr& attr) {
  return dnnl::matmul(make_matmul_desc(op, src, wei, bias, dst, attr));
}

// oneDNN's data type for linear weights of `dtype` (F32 or BF16).
dt weights_dt(DType dtype) {
  return dtype == DType::BF16 ? dt::bf16 : dt::f32;
}

// The weights [N, K] in `md`: from `cache` when it holds that layout, else reordered from the
// cache's packed source or from the plain weights `w` (which then become the source).
memory packed_weights(const Tensor& w, const memory::desc& md, PackedLinearWeights* cache) {
  auto& eng = dnnl_engine();
  auto reorder_from = [&](const memory& from) {
    memory packed(md, eng);
    dnnl_run("linear weight reorder", dnnl_reorder(from, packed),
             {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, packed}});
    return packed;
  };
  auto plain = [&] {
    if (!w.defined()) throw Error("linear: internal error: the weights were released unpacked");
    const memory::desc user_md({w.size(1), w.size(0)}, weights_dt(w.dtype()), tag::ba);
    return memory(user_md, eng, const_cast<void*>(w.raw()));
  };
  if (!cache) return reorder_from(plain());
  std::lock_guard<std::mutex> lock(cache->mu);
  for (const auto& [d, m] : cache->packed) {
    if (d == md) return m;
  }
  const memory packed = cache->source ? reorder_from(cache->source) : reorder_from(plain());
  if (!cache->source) cache->source = packed;
  cache->packed.emplace_back(md, packed);
  return packed;
}

// The weights' layout oneDNN's matmul asks for with `rows` rows of input.
memory::desc matmul_weights_layout(int64_t rows, int64_t K, int64_t N, dt compute) {
  const memory::desc src_md({rows, K}, compute, tag::ab);
  const memory::desc wei_md({K, N}, compute, tag::any);
  const memory::desc dst_md({rows, N}, dt::f32, tag::ab);
  const dnnl::matmul::primitive_desc pd =
      make_matmul_desc("linear", src_md, wei_md, nullptr, dst_md, dnnl::primitive_attr());
  return pd.weights_desc();
}

}  // namespace

void pack_linear_weights(const Tensor& w, PackedLinearWeights& cache) {
  if (w.dim() != 2 || (w.dtype() != DType::F32 && w.dtype() != DType::BF16)) {
    throw Error("linear: internal error: packing needs F32 or BF16 [out, in] weights, got " +
                w.describe());
  }
  constexpr int64_t kProbeRows = 256;
  packed_weights(w, matmul_weights_layout(kProbeRows, w.size(1), w.size(0), weights_dt(w.dtype())),
                 &cache);
}

Tensor unpack_linear_weights(PackedLinearWeights& cache, const Shape& w_shape, DType dtype) {
  std::lock_guard<std::mutex> lock(cache.mu);
  Tensor w = Tensor::empty(w_shape, dtype, Tensor::Alloc::kSystem);
  const memory::desc user_md({w_shape[1], w_shape[0]}, weights_dt(dtype), tag::ba);
  memory user(user_md, dnnl_engine(), w.raw_mutable());
  dnnl_run("linear weight reorder", dnnl_reorder(cache.source, user),
           {{DNNL_ARG_FROM, cache.source}, {DNNL_ARG_TO, user}});
  return w;
}

Tensor linear_impl(const Tensor& x_in, const Tensor& w_in, const Shape& w_shape, DType w_dtype,
                   const Tensor& b_in, Activation act, PackedLinearWeights* cache) {
  profile::OpScope prof("linear");
  const char* op = "linear";
  Tensor x = f32_input(x_in, op, "x");
  // BF16 weights (a model loaded for bf16 precision) select the bf16 matmul; a cached layer
  // has released its plain copy.
  const bool bf16 = w_dtype == DType::BF16;
  Tensor w;
  if (w_in.defined()) w = bf16 ? w_in.contiguous() : f32_input(w_in, op, "weight");
  if (w_shape.size() != 2) fail(op, "weight must be [out, in], got " + shape_str(w_shape));
  if (x.dim() < 1) fail(op, "x must have at least one dimension", x);
  const int64_t K = w_shape[1], N = w_shape[0];
  if (x.size(-1) != K) {
    fail(op,
         "x's last dim must equal weight's in_features " + std::to_string(K) + " (weight " +
             shape_str(w_shape) + ")",
         x);
  }
  Tensor b;
  if (b_in.defined()) {
    b = f32_input(b_in, op, "bias");
    if (b.dim() != 1 || b.size(0) != N) {
      fail(op, "bias must have shape [" + std::to_string(N) + "]", b);
    }
  }
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor y = Tensor::empty(out_shape);
  const int64_t M = K > 0 ? x.numel() / K : 0;
  if (M == 0 || N == 0) return y;
  if (K == 0) fail(op, "in_features must be positive", w);
  prof.set_flops(2.0 * static_cast<double>(M) * static_cast<double>(K) * static_cast<double>(N));

  // The weights in the layout the primitive asks for (packed once per layer; see
  // PackedLinearWeights). BF16: src and weights in bf16, F32 accumulation, bias and output.
  const dt compute = weights_dt(w_dtype);
  const memory::desc src_md({M, K}, compute, tag::ab);
  const memory::desc wei_md({K, N}, compute, tag::any);
  const memory::desc bias_md({1, N}, dt::f32, tag::ab);
  const memory::desc dst_md({M, N}, dt::f32, tag::ab);
  const std::vector<int64_t> key = {0, M, K, N, b.defined(), static_cast<int64_t>(act), bf16};
  dnnl::matmul prim = primitive_cache().get(key, [&] {
    dnnl::primitive_attr attr;
    dnnl::post_ops po;
    append_activation(po, act);
    attr.set_post_ops(po);
    return make_matmul(op, src_md, wei_md, b.defined() ? &bias_md : nullptr, dst_md, attr);
  });
  auto& eng = dnnl_engine();
  const Tensor x_compute = bf16 ? x.to(DType::BF16) : x;
  const memory src(src_md, eng, const_cast<void*>(x_compute.raw()));
  const dnnl_memory_desc_t* packed_md =
      dnnl_primitive_desc_query_md(prim.get_primitive_desc(), dnnl_query_weights_md, 0);
  const memory wei = packed_weights(w, memory::desc(*packed_md), cache);
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src},
                                          {DNNL_ARG_WEIGHTS, wei},
                                          {DNNL_ARG_DST, memory(dst_md, eng, y.raw_mutable())}};
  if (b.defined()) args[DNNL_ARG_BIAS] = memory(bias_md, eng, const_cast<void*>(b.raw()));
  dnnl_run(op, prim, args);
  return y;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, Activation act) {
  if (Backend* be = backend_for("linear", {&x, &w, &b})) return be->linear(x, w, b, act);
  if (!w.defined()) fail("linear", "weight must be defined");
  return linear_impl(x, w, w.shape(), w.dtype(), b, act, nullptr);
}

Tensor matmul(const Tensor& a_in, const Tensor& b_in, bool trans_b, float alpha) {
  if (Backend* be = backend_for("matmul", {&a_in, &b_in}))
    return be->matmul(a_in, b_in, trans_b, alpha);
  profile::OpScope prof("matmul");
  const char* op = "matmul";
  Tensor a = f32_input(a_in, op, "a");
  Tensor b = f32_input(b_in, op, "b");
  // oneDNN's limit, checked where the shared checks would (after the ranks >= 2, before K).
  if (a.dim() >= 2 && b.dim() >= 2 && std::max(a.dim(), b.dim()) > 12) {
    fail(op, "rank above 12 is not supported", a);
  }
  const MatmulShapes ms = matmul_shapes(a, b, trans_b);
  const int64_t rank = ms.rank, K = ms.K, N = ms.N;
  const Shape &as = ms.a, &bs = ms.b, &out = ms.out;
  Tensor y = Tensor::empty(out);
  if (y.numel() == 0) return y;
  prof.set_flops(2.0 * static_cast<double>(y.numel()) * static_cast<double>(K));
  if (K == 0) {
    std::memset(y.raw_mutable(), 0, y.nbytes());
    return y;
  }
  // Weights as a logical [..., K, N] with strides: for trans_b the stored [..., N, K] is read
  // with K fastest.
  Shape wdims = bs;
  wdims[rank - 2] = K;
  wdims[rank - 1] = N;
  Shape wstrides = contiguous_strides(bs);
  if (trans_b) std::swap(wstrides[rank - 2], wstrides[rank - 1]);
  const memory::desc src_md(to_dims(as), dt::f32, to_dims(contiguous_strides(as)));
  const memory::desc wei_md(to_dims(wdims), dt::f32, to_dims(wstrides));
  const memory::desc dst_md(to_dims(out), dt::f32, to_dims(contiguous_strides(out)));

  std::vector<int64_t> key = {1, rank, trans_b};
  key.insert(key.end(), as.begin(), as.end());
  key.insert(key.end(), bs.begin(), bs.end());
  key.push_back(std::bit_cast<int32_t>(alpha));
  dnnl::matmul prim = primitive_cache().get(key, [&] {
    dnnl::primitive_attr attr;
    if (alpha != 1.f) attr.set_output_scales(0, {alpha});
    return make_matmul(op, src_md, wei_md, nullptr, dst_md, attr);
  });
  auto& eng = dnnl_engine();
  dnnl_run(op, prim,
           {{DNNL_ARG_SRC, memory(src_md, eng, const_cast<void*>(a.raw()))},
            {DNNL_ARG_WEIGHTS, memory(wei_md, eng, const_cast<void*>(b.raw()))},
            {DNNL_ARG_DST, memory(dst_md, eng, y.raw_mutable())}});
  return y;
}

}  // namespace ipa::ops
