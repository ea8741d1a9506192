#include "ops/cpu/pointwise_kernels.h"

namespace ipa::ops::cpu {

const PointwiseKernels& pointwise_kernels_avx2();
const PointwiseKernels& pointwise_kernels_avx512();

const PointwiseKernels& pointwise_kernels(Isa isa) {
  return isa == Isa::Avx512 ? pointwise_kernels_avx512() : pointwise_kernels_avx2();
}

}  // namespace ipa::ops::cpu
