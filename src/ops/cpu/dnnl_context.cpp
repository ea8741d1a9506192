#include "ops/cpu/dnnl_context.h"

#include <string>

#include "base/error.h"

namespace ipa::ops::cpu {

dnnl::engine& dnnl_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& dnnl_stream() {
  thread_local dnnl::stream stream(dnnl_engine());
  return stream;
}

dnnl::primitive_attr dnnl_attr(dnnl::primitive_attr attr) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::reorder dnnl_reorder(const dnnl::memory& from, const dnnl::memory& to) {
  return dnnl::reorder(dnnl::reorder::primitive_desc(from, to, dnnl_attr()));
}

void dnnl_run(const char* op, const dnnl::primitive& prim,
              std::unordered_map<int, dnnl::memory> args) {
  try {
    const dnnl_memory_desc_t* scratch =
        dnnl_primitive_desc_query_md(prim.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
    Tensor scratchpad;  // held until the primitive has run
    if (scratch) {
      const dnnl::memory::desc md(*scratch);
      const size_t bytes = md.get_size();
      if (bytes > 0) {
        scratchpad = Tensor::empty({static_cast<int64_t>((bytes + 3) / 4)});
        args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(md, dnnl_engine(), scratchpad.raw_mutable());
      }
    }
    prim.execute(dnnl_stream(), args);
    dnnl_stream().wait();
  } catch (const dnnl::error& e) {
    throw Error(std::string(op) + ": oneDNN failed: " + e.what());
  }
}

}  // namespace ipa::ops::cpu
