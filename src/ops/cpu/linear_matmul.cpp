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

MatmulCache& cache() {
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

dnnl::matmul make_matmul(const char* op, const memory::desc& src, const memory::desc& wei,
                         const memory::desc* bias, const memory::desc& dst,
                         const dnnl::primitive_attr& attr) {
  try {
    auto d = bias ? dnnl::matmul::desc(src, wei, *bias, dst) : dnnl::matmul::desc(src, wei, dst);
    return dnnl::matmul(dnnl::matmul::primitive_desc(d, dnnl_attr(attr), dnnl_engine()));
  } catch (const dnnl::error& e) {
    const bool bf16 = src.data_type() == dt::bf16;
    throw Error(std::string(op) + ": oneDNN cannot build a" + (bf16 ? " bf16" : "n f32") +
                " matmul for a " + shape_str(src.dims()) + " by " + shape_str(wei.dims()) + ": " +
                e.what());
  }
}

}  // namespace

namespace {

// The weights [N, K] in `md`: from `cache` when it holds that layout, else reordered from the
// cache's packed source or from the plain weights `w` (which then become the source).
memory bf16_weights(const Tensor& w, const memory::desc& md, LinearBf16Weights* cache) {
  auto& eng = dnnl_engine();
  auto reorder_from = [&](const memory& from) {
    memory packed(md, eng);
    dnnl_run("linear weight reorder", dnnl_reorder(from, packed),
             {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, packed}});
    return packed;
  };
  auto plain = [&] {
    if (!w.defined()) throw Error("linear: internal error: bf16 weights were released unpacked");
    const memory::desc user_md({w.size(1), w.size(0)},
                               w.dtype() == DType::BF16 ? dt::bf16 : dt::f32, tag::ba);
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

}  // namespace

Tensor unpack_bf16_weights(LinearBf16Weights& cache, const Shape& w_shape) {
  std::lock_guard<std::mutex> lock(cache.mu);
  Tensor w = Tensor::empty(w_shape, DType::BF16, Tensor::Alloc::kSystem);
  const memory::desc user_md({w_shape[1], w_shape[0]}, dt::bf16, tag::ba);
  memory user(user_md, dnnl_engine(), w.raw_mutable());
  dnnl_run("linear weight reorder", dnnl_reorder(cache.source, user),
           {{DNNL_ARG_FROM, cache.source}, {DNNL_ARG_TO, user}});
  return w;
}

Tensor linear_impl(const Tensor& x_in, const Tensor& w_in, const Shape& w_shape, DType w_dtype,
                   const Tensor& b_in, Activation act, LinearBf16Weights* bf16_cache) {
  profile::OpScope prof("linear");
  const char* op = "linear";
  Tensor x = f32_input(x_in, op, "x");
  // BF16 weights (a model loaded for bf16 precision) select the bf16 matmul; a cached layer
  // may have released its plain copy.
  const bool bf16 = w_dtype == DType::BF16;
  Tensor w;
  if (bf16) {
    if (w_in.defined()) w = w_in.contiguous();
  } else {
    w = f32_input(w_in, op, "weight");
  }
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

  // F32: oneDNN reads the plain [N, K] weights (its sgemm packs internally). BF16: src and
  // weights in bf16 (weights packed once per layout), F32 accumulation, bias and output.
  const dt compute = bf16 ? dt::bf16 : dt::f32;
  const memory::desc src_md({M, K}, compute, tag::ab);
  const memory::desc wei_md({K, N}, compute, bf16 ? tag::any : tag::ba);  // w [N, K] is "ba"
  const memory::desc bias_md({1, N}, dt::f32, tag::ab);
  const memory::desc dst_md({M, N}, dt::f32, tag::ab);
  const std::vector<int64_t> key = {0, M, K, N, b.defined(), static_cast<int64_t>(act), bf16};
  dnnl::matmul prim = cache().get(key, [&] {
    dnnl::primitive_attr attr;
    dnnl::post_ops po;
    append_activation(po, act);
    attr.set_post_ops(po);
    return make_matmul(op, src_md, wei_md, b.defined() ? &bias_md : nullptr, dst_md, attr);
  });
  auto& eng = dnnl_engine();
  Tensor x_bf16;
  memory src, wei;
  if (bf16) {
    x_bf16 = x.to(DType::BF16);
    src = memory(src_md, eng, x_bf16.raw_mutable());
    const dnnl_memory_desc_t* packed_md =
        dnnl_primitive_desc_query_md(prim.get_primitive_desc(), dnnl_query_weights_md, 0);
    wei = bf16_weights(w, memory::desc(*packed_md), bf16_cache);
  } else {
    src = memory(src_md, eng, const_cast<void*>(x.raw()));
    wei = memory(wei_md, eng, const_cast<void*>(w.raw()));
  }
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
  dnnl::matmul prim = cache().get(key, [&] {
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
