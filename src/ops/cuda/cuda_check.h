// CUDA, cuBLAS and cuDNN status codes as ipa::Error: "op: call failed (shapes): status string".
// Every call into the CUDA libraries goes through check(); kernel launches end with
// check_launch().
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <string>

namespace ipa::ops::cuda {

[[noreturn]] void fail_status(const char* op, const char* call, const std::string& detail,
                              const char* status);

inline const char* status_string(cudaError_t e) {
  return cudaGetErrorString(e);
}
inline const char* status_string(cublasStatus_t s) {
  return cublasGetStatusString(s);
}
inline const char* status_string(cudnnStatus_t s) {
  return cudnnGetErrorString(s);
}
inline bool ok(cudaError_t e) {
  return e == cudaSuccess;
}
inline bool ok(cublasStatus_t s) {
  return s == CUBLAS_STATUS_SUCCESS;
}
inline bool ok(cudnnStatus_t s) {
  return s == CUDNN_STATUS_SUCCESS;
}

// `detail` (the shapes) is built only on failure: a callable returning std::string.
template <typename Status, typename Detail>
inline void check(Status s, const char* op, const char* call, Detail&& detail) {
  if (!ok(s)) fail_status(op, call, detail(), status_string(s));
}
template <typename Status>
inline void check(Status s, const char* op, const char* call) {
  if (!ok(s)) fail_status(op, call, std::string(), status_string(s));
}

// After a kernel launch: a launch error (bad configuration, no kernel image for this GPU) or an
// earlier asynchronous fault surfaces here.
void check_launch(const char* op, const char* kernel);

}  // namespace ipa::ops::cuda
