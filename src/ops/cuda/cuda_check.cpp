#include "ops/cuda/cuda_check.h"

#include "base/error.h"

namespace ipa::ops::cuda {

void fail_status(const char* op, const char* call, const std::string& detail, const char* status) {
  std::string msg = std::string(op) + ": " + call + " failed";
  if (!detail.empty()) msg += " (" + detail + ")";
  throw Error(msg + ": " + (status ? status : "unknown status"));
}

void check_launch(const char* op, const char* kernel) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail_status(op, kernel, "kernel launch", cudaGetErrorString(e));
}

}  // namespace ipa::ops::cuda
