// Helpers for the op tests: reference results are computed in double by plain loops in each
// test, and compared with the normalised error max|Δ| / max|ref|, which is recorded as a test
// property and printed, so the measured accuracy is visible in every run.
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "ops/cpu/isa.h"
#include "tensor/tensor.h"
#include "test_support.h"

namespace ipa::test {

inline Tensor from_doubles(const Shape& shape, const std::vector<double>& v) {
  std::vector<float> f(v.begin(), v.end());
  return Tensor::from_vector(shape, f);
}

// Checks shapes and the normalised error against `bound`; records it as "<label>_err".
inline void expect_close(const Tensor& actual, const Tensor& ref, double bound,
                         const std::string& label) {
  ASSERT_EQ(shape_str(actual.shape()), shape_str(ref.shape())) << label;
  const double err = max_rel_error(actual, ref);
  ::testing::Test::RecordProperty(label + "_err", std::to_string(err));
  std::printf("  [err] %-40s %.3g (bound %.0e)\n", label.c_str(), err, bound);
  EXPECT_TRUE(AllCloseRel(actual, ref, bound)) << label << ": normalised error " << err;
}

inline std::vector<double> doubles(const Tensor& t) {
  const std::vector<float> f = t.to_floats();
  return std::vector<double>(f.begin(), f.end());
}

// Runs body(suffix) once per variant of our kernels this CPU runs (ops/cpu/isa.h: AVX2, and
// AVX-512 where present), with the calling thread's ops on that variant; suffix ("_avx2",
// "_avx512") is for labels. Prints and records which variants ran.
template <typename F>
void for_each_isa(F body) {
  std::string ran;
  for (const ops::cpu::Isa isa : ops::cpu::supported_isas()) {
    const ops::cpu::IsaOverride use(isa);
    SCOPED_TRACE(ops::cpu::isa_name(isa));
    body(std::string("_") + ops::cpu::isa_name(isa));
    ran += std::string(ran.empty() ? "" : ",") + ops::cpu::isa_name(isa);
  }
  std::printf("  [isa] kernel variants run: %s\n", ran.c_str());
  ::testing::Test::RecordProperty("isa_variants", ran);
}

}  // namespace ipa::test

// The op tests live in namespace ipa and call these helpers unqualified.
namespace ipa {
using test::doubles;
using test::expect_close;
using test::for_each_isa;
using test::from_doubles;
using test::random_tensor;
}  // namespace ipa
