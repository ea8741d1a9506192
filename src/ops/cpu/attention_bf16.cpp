// BF16 attention. Work items are (batch, head, block of kRows queries), spread over the
// threads; each runs, with oneDNN single-threaded inside the parallel region:
//   S = Q_blk · Kᵀ            bf16 matmul, F32 result [rows, Lk]
//   P = softmax(scale·S + mask) row-wise in F32, then rounded to bf16
//   O_blk = P · V / rowsum     bf16 matmul, F32, written in place into the [B, Lq, H·D] output
// Q, K and V are read where they lie (strided memory descriptors over the packed heads), after
// one conversion of each to bf16. Memory per thread: O(kRows · Lk). Unlike the F32 kernel
// this is not an online softmax: the whole row of scores fits (Lk ≤ a few thousand tokens).
#include "ops/cpu/attention_bf16.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <vector>

#include "ops/cpu/cpu_util.h"
#include "ops/cpu/dnnl_context.h"
#include "tensor/half.h"

namespace ipa::ops {

using namespace cpu;
using dnnl::memory;
using dt = memory::data_type;

namespace {

constexpr int64_t kRows = 64;  // queries per work item: S is kRows · Lk floats (1 MB at 4096)

// The two matmuls for one (rows, Lk, D, H·D) shape.
struct AttnPrims {
  memory::desc q_md, kt_md, s_md, p_md, v_md, o_md;
  dnnl::matmul qk, pv;
};

AttnPrims make_prims(int64_t rows, int64_t Lk, int64_t D, int64_t HD) {
  AttnPrims a;
  a.q_md = memory::desc({rows, D}, dt::bf16, memory::dims{HD, 1});
  a.kt_md = memory::desc({D, Lk}, dt::bf16, memory::dims{1, HD});  // Kᵀ read in place
  a.s_md = memory::desc({rows, Lk}, dt::f32, memory::dims{Lk, 1});
  a.p_md = memory::desc({rows, Lk}, dt::bf16, memory::dims{Lk, 1});
  a.v_md = memory::desc({Lk, D}, dt::bf16, memory::dims{HD, 1});
  a.o_md = memory::desc({rows, D}, dt::f32, memory::dims{HD, 1});
  try {
    auto& eng = dnnl_engine();
    a.qk = dnnl::matmul(
        dnnl::matmul::primitive_desc(dnnl::matmul::desc(a.q_md, a.kt_md, a.s_md), eng));
    a.pv =
        dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a.p_md, a.v_md, a.o_md), eng));
  } catch (const dnnl::error& e) {
    throw Error(std::string("attention (bf16): oneDNN cannot build its matmuls: ") + e.what());
  }
  return a;
}

const AttnPrims& prims_for(int64_t rows, int64_t Lk, int64_t D, int64_t HD) {
  static std::mutex mu;
  static std::map<std::vector<int64_t>, AttnPrims> cache;
  std::lock_guard<std::mutex> lock(mu);
  const std::vector<int64_t> key = {rows, Lk, D, HD};
  auto it = cache.find(key);
  if (it == cache.end()) {
    if (cache.size() > 256) cache.clear();
    it = cache.emplace(key, make_prims(rows, Lk, D, HD)).first;
  }
  return it->second;
}

// Row-wise softmax of scale·s + mask into bf16 p; returns nothing, writes 1/rowsum into inv.
// A row whose scores are all -inf gives NaN (0/0), as PyTorch does.
void softmax_rows(float* s, uint16_t* p, float* inv, int64_t rows, int64_t Lk, float scale,
                  const MaskView& m, int64_t b, int64_t h, int64_t q0) {
  for (int64_t i = 0; i < rows; ++i) {
    float* row = s + i * Lk;
    if (m.data) {
      const float* mr = m.data + b * m.sb + h * m.sh + (q0 + i) * m.si;
      for (int64_t j = 0; j < Lk; ++j) row[j] = row[j] * scale + mr[j * m.sj];
    } else {
      for (int64_t j = 0; j < Lk; ++j) row[j] *= scale;
    }
    const float mx = max8(row, Lk);
    const float shift = mx == -__builtin_inff() ? 0.f : mx;
    map8(row, row, Lk, [shift](v8f x) { return exp8_nonpos(x - shift); });
    double sum = 0;
    for (int64_t j = 0; j < Lk; ++j) sum += row[j];
    inv[i] = static_cast<float>(1.0 / sum);
    f32_to_bf16(row, p + i * Lk, static_cast<size_t>(Lk));
  }
}

}  // namespace

void attention_bf16(const Tensor& q, const Tensor& k, const Tensor& v, int64_t H, float scale,
                    const MaskView& mask, Tensor& out) {
  const int64_t B = q.size(0), Lq = q.size(1), HD = q.size(2), Lk = k.size(1), D = HD / H;
  const Tensor qb = q.to(DType::BF16), kb = k.to(DType::BF16), vb = v.to(DType::BF16);
  const auto* qp = static_cast<const uint16_t*>(qb.raw());
  const auto* kp = static_cast<const uint16_t*>(kb.raw());
  const auto* vp = static_cast<const uint16_t*>(vb.raw());
  float* op = out.data<float>();
  const int64_t qblocks = (Lq + kRows - 1) / kRows, tasks = B * H * qblocks;
  const int64_t tail = Lq - (qblocks - 1) * kRows;
  const AttnPrims& full = prims_for(kRows, Lk, D, HD);
  const AttnPrims& last = prims_for(tail, Lk, D, HD);
  auto& eng = dnnl_engine();
  std::vector<Error> errors;
  std::mutex err_mu;

#pragma omp parallel
  {
    std::vector<float> s(static_cast<size_t>(kRows * Lk)), inv(kRows);
    std::vector<uint16_t> p(static_cast<size_t>(kRows * Lk));
    dnnl::stream stream(eng);  // one per thread: oneDNN streams are not shared across threads
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t qb_i = t % qblocks, h = (t / qblocks) % H, b = t / (qblocks * H);
      const int64_t q0 = qb_i * kRows, rows = std::min(kRows, Lq - q0);
      const AttnPrims& a = rows == kRows ? full : last;
      const auto cq = [](const uint16_t* x) { return const_cast<uint16_t*>(x); };
      try {
        memory qm(a.q_md, eng, cq(qp + (b * Lq + q0) * HD + h * D));
        memory km(a.kt_md, eng, cq(kp + b * Lk * HD + h * D));
        memory sm(a.s_md, eng, s.data());
        a.qk.execute(stream, {{DNNL_ARG_SRC, qm}, {DNNL_ARG_WEIGHTS, km}, {DNNL_ARG_DST, sm}});
        stream.wait();
        softmax_rows(s.data(), p.data(), inv.data(), rows, Lk, scale, mask, b, h, q0);
        float* o = op + (b * Lq + q0) * HD + h * D;
        memory pm(a.p_md, eng, p.data()), vm(a.v_md, eng, cq(vp + b * Lk * HD + h * D));
        memory om(a.o_md, eng, o);
        a.pv.execute(stream, {{DNNL_ARG_SRC, pm}, {DNNL_ARG_WEIGHTS, vm}, {DNNL_ARG_DST, om}});
        stream.wait();
        for (int64_t i = 0; i < rows; ++i) {
          for (int64_t d = 0; d < D; ++d) o[i * HD + d] *= inv[i];
        }
      } catch (const dnnl::error& e) {
        std::lock_guard<std::mutex> lock(err_mu);
        errors.emplace_back(std::string("attention (bf16): oneDNN failed: ") + e.what());
      }
    }
  }
  if (!errors.empty()) throw errors.front();
}

}  // namespace ipa::ops
