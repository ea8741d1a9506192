#include "ops/cpu/dnnl_context.h"

#include <string>

#include "base/error.h"

namespace ipa::ops::cpu {

dnnl::engine& dnnl_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& dnnl_stream() {
  static dnnl::stream stream(dnnl_engine());
  return stream;
}

void dnnl_run(const char* op, const dnnl::primitive& prim,
              const std::unordered_map<int, dnnl::memory>& args) {
  try {
    prim.execute(dnnl_stream(), args);
    dnnl_stream().wait();
  } catch (const dnnl::error& e) {
    throw Error(std::string(op) + ": oneDNN failed: " + e.what());
  }
}

}  // namespace ipa::ops::cpu
