// The row kernels of pointwise_kernels.h for AVX2 + FMA (8 floats per vector).
#include "ops/cpu/pointwise_kernels.h"

namespace ipa::ops::cpu {

const PointwiseKernels& pointwise_kernels_avx2() {
  static constexpr PointwiseKernels kKernels = make_pointwise_kernels<Avx2Vec>();
  return kKernels;
}

}  // namespace ipa::ops::cpu
