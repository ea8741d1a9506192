// The process-wide oneDNN CPU engine and stream, and small helpers to wrap tensors as
// dnnl::memory. Only src/ops/cpu/ includes this.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include "tensor/tensor.h"

namespace ipa::ops::cpu {

dnnl::engine& dnnl_engine();
dnnl::stream& dnnl_stream();

inline dnnl::memory::dims to_dims(const Shape& s) {
  return dnnl::memory::dims(s.begin(), s.end());
}

// Runs a primitive on the global stream and waits; turns dnnl::error into ipa::Error.
void dnnl_run(const char* op, const dnnl::primitive& prim,
              const std::unordered_map<int, dnnl::memory>& args);

}  // namespace ipa::ops::cpu
