// The row kernels of pointwise_kernels.h for AVX-512F (16 floats per vector). Compiled with
// -mavx512f; run only where the CPU has it (pointwise_dispatch.cpp).
#include "ops/cpu/pointwise_kernels.h"

namespace ipa::ops::cpu {

const PointwiseKernels& pointwise_kernels_avx512() {
  static constexpr PointwiseKernels kKernels = make_pointwise_kernels<Avx512Vec>();
  return kKernels;
}

}  // namespace ipa::ops::cpu
