#include "pipeline/guidance_batch.h"

#include <vector>

#include "base/error.h"
#include "ops/ops.h"

namespace ipa {

Tensor guidance_batch(const Tensor& cond, const Tensor& uncond, int n, bool guidance) {
  if (!cond.defined() || cond.dim() < 1 || cond.size(0) != 1) {
    throw Error("internal error: guidance_batch expects [1, ...] inputs");
  }
  std::vector<Tensor> rows;
  if (guidance) {
    if (!uncond.defined() || uncond.shape() != cond.shape()) {
      throw Error(
          "internal error: guidance needs an unconditional input shaped like the "
          "conditional one");
    }
    rows.insert(rows.end(), static_cast<size_t>(n), uncond);
  }
  rows.insert(rows.end(), static_cast<size_t>(n), cond);
  return rows.size() == 1 ? cond : ops::concat(rows, 0);
}

}  // namespace ipa
