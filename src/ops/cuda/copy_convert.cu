// DeviceMemory::copy_convert on the GPU: a strided view gathered into contiguous memory, float
// dtypes converted through F32 (round to nearest even), other dtypes copied to their own dtype.
// One thread per output element; the source offset comes from the element's index.
#include "ops/cuda/copy_convert.h"

#include <string>

#include "ops/cuda/cuda_check.h"
#include "ops/cuda/kernel_util.cuh"

namespace ipa::ops::cuda {

namespace {

constexpr int kMaxRank = 12;

struct View {
  int64_t shape[kMaxRank];
  int64_t strides[kMaxRank];
  int rank;
};

__device__ __forceinline__ int64_t source_offset(const View& v, int64_t i) {
  int64_t off = 0;
  for (int d = v.rank - 1; d >= 0; --d) {
    off += (i % v.shape[d]) * v.strides[d];
    i /= v.shape[d];
  }
  return off;
}

template <typename S, typename D>
__global__ void convert_kernel(D* __restrict__ dst, const S* __restrict__ src, View v, int64_t n) {
  IPA_GRID_STRIDE(i, n) {
    dst[i] = from_f32<D>(to_f32(src[source_offset(v, i)]));
  }
}

// Integer and bool dtypes: the bits of each element, by its size.
template <typename E>
__global__ void gather_kernel(E* __restrict__ dst, const E* __restrict__ src, View v, int64_t n) {
  IPA_GRID_STRIDE(i, n) {
    dst[i] = src[source_offset(v, i)];
  }
}

bool contiguous(const View& v) {
  int64_t expect = 1;
  for (int d = v.rank - 1; d >= 0; --d) {
    if (v.shape[d] != 1 && v.strides[d] != expect) return false;
    expect *= v.shape[d];
  }
  return true;
}

}  // namespace

void copy_convert(cudaStream_t stream, void* dst, DType dst_dtype, const void* src, DType src_dtype,
                  const int64_t* shape, const int64_t* strides, int rank) {
  const char* op = "copy_convert";
  if (rank > kMaxRank) {
    throw Error(std::string(op) + ": rank " + std::to_string(rank) + " above " +
                std::to_string(kMaxRank) + " is not supported on CUDA");
  }
  View v{};
  v.rank = rank;
  int64_t n = 1;
  for (int d = 0; d < rank; ++d) {
    v.shape[d] = shape[d];
    v.strides[d] = strides[d];
    n *= shape[d];
  }
  if (n == 0) return;
  const bool float_pair =
      (dst_dtype == DType::F32 || dst_dtype == DType::F16 || dst_dtype == DType::BF16) &&
      (src_dtype == DType::F32 || src_dtype == DType::F16 || src_dtype == DType::BF16);
  if (!float_pair && dst_dtype != src_dtype) {
    throw Error(std::string(op) + ": on CUDA, " + dtype_name(src_dtype) +
                " converts only to itself (asked for " + dtype_name(dst_dtype) + ")");
  }
  if (dst_dtype == src_dtype && contiguous(v)) {
    check(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * dtype_size(src_dtype),
                          cudaMemcpyDeviceToDevice, stream),
          op, "cudaMemcpyAsync");
    return;
  }
  const unsigned grid = grid_for(n);
  if (float_pair) {
    dispatch_float(src_dtype, op, [&](auto s) {
      using S = decltype(s);
      dispatch_float(dst_dtype, op, [&](auto d) {
        using D = decltype(d);
        convert_kernel<S, D>
            <<<grid, kThreads, 0, stream>>>(static_cast<D*>(dst), static_cast<const S*>(src), v, n);
      });
    });
  } else {
    switch (dtype_size(src_dtype)) {
      case 1:
        gather_kernel<uint8_t><<<grid, kThreads, 0, stream>>>(
            static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src), v, n);
        break;
      case 4:
        gather_kernel<uint32_t><<<grid, kThreads, 0, stream>>>(
            static_cast<uint32_t*>(dst), static_cast<const uint32_t*>(src), v, n);
        break;
      case 8:
        gather_kernel<uint64_t><<<grid, kThreads, 0, stream>>>(
            static_cast<uint64_t*>(dst), static_cast<const uint64_t*>(src), v, n);
        break;
      default:
        throw Error(std::string(op) + ": unexpected element size of " + dtype_name(src_dtype));
    }
  }
  check_launch(op, "convert_kernel");
}

}  // namespace ipa::ops::cuda
