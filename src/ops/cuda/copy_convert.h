// The strided gather/convert behind DeviceMemory::copy_convert (copy_convert.cu), queued on
// `stream`.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "tensor/dtype.h"

namespace ipa::ops::cuda {

void copy_convert(cudaStream_t stream, void* dst, DType dst_dtype, const void* src, DType src_dtype,
                  const int64_t* shape, const int64_t* strides, int rank);

}  // namespace ipa::ops::cuda
