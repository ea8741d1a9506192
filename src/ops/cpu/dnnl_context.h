// The process-wide oneDNN CPU engine and stream, and small helpers to wrap tensors as
// dnnl::memory. Only src/ops/cpu/ includes this.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include "tensor/tensor.h"

namespace ipa::ops::cpu {

dnnl::engine& dnnl_engine();
dnnl::stream& dnnl_stream();  // one per thread: a stream is not for concurrent use

inline dnnl::memory::dims to_dims(const Shape& s) {
  return dnnl::memory::dims(s.begin(), s.end());
}

// Every primitive is created with this attribute (or `attr` made so): its scratchpad comes from
// the caller at each run (scratchpad_mode::user). oneDNN's default keeps one scratchpad per
// primitive, which two threads running the same cached primitive would share (Debian's oneDNN
// is built without DNNL_ENABLE_CONCURRENT_EXEC), and engines may generate concurrently.
dnnl::primitive_attr dnnl_attr(dnnl::primitive_attr attr = {});

// A reorder between two memories, with dnnl_attr().
dnnl::reorder dnnl_reorder(const dnnl::memory& from, const dnnl::memory& to);

// Runs a primitive made with dnnl_attr() on this thread's stream and waits, with a scratchpad
// from the block pool; turns dnnl::error into ipa::Error.
void dnnl_run(const char* op, const dnnl::primitive& prim,
              std::unordered_map<int, dnnl::memory> args);

}  // namespace ipa::ops::cpu
