// Shared helpers for the GoogleTest suites: where the golden data lives, reading it, and
// comparing tensors with a stated tolerance.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "formats/tensor_file.h"
#include "ipadapter/types.h"
#include "tensor/tensor.h"

namespace ipa::test {

// Whether the test process pinned IPADAPTER_PRECISION to f32 (test_support.cpp).
bool precision_pinned();

// IPADAPTER_GOLDEN_DIR when set, else <source>/tests/data.
std::string golden_dir();
// golden_dir()/rel
std::string golden_path(const std::string& rel);
// Every regular file below golden_dir() whose path ends in `suffix`, sorted.
std::vector<std::string> golden_files_with_suffix(const std::string& suffix);
// golden_dir()/<name>/<name>.json
nlohmann::json load_case(const std::string& name);
// A single-file case's config folder (relative to golden_dir()): the `config='../<folder>'` of
// its from_single_file_call.
std::string single_file_config(const nlohmann::json& single_file_case);
// golden_dir()/<name>/<name>.golden.safetensors
const TensorFile& load_golden(const std::string& name);
// A tensor from a golden file, or a test failure naming it.
Tensor golden_tensor(const TensorFile& file, const std::string& key);

// max|actual - expected| <= rel_tol * max|expected| (shapes must match). The message gives
// the maximum error, where it is, and the bound.
::testing::AssertionResult AllCloseRel(const Tensor& actual, const Tensor& expected,
                                       double rel_tol);
// max|actual - expected| <= abs_tol
::testing::AssertionResult AllCloseAbs(const Tensor& actual, const Tensor& expected,
                                       double abs_tol);
// Normalised error ||a - e||_inf / max(1e-30, ||e||_inf); +inf and a test failure when the
// shapes differ.
double max_rel_error(const Tensor& actual, const Tensor& expected);
// The largest |a[i] - b[i]| of two pixel arrays (8-bit values, as bytes or floats), in levels of
// 255; the caller checks the sizes first.
template <typename A, typename B>
int max_pixel_diff(const std::vector<A>& a, const std::vector<B>& b) {
  int worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<int>(a[i]) - static_cast<int>(b[i])));
  }
  return worst;
}

// The message of the ipa::Error `f` throws ("" and a test failure when it throws none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected ipa::Error";
  return "";
}
inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Public FloatArray ↔ Tensor (F32 copies).
FloatArray float_array(const Tensor& t);
Tensor tensor(const FloatArray& a);

// Deterministic uniform(-1, 1) tensor.
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.f, float hi = 1.f);

// Runs the built `ipadapter` CLI with the arguments; returns its exit code and puts
// stdout+stderr into *output.
int run_cli(const std::vector<std::string>& args, std::string* output);

// A fresh empty temporary directory (removed at process exit is not guaranteed).
std::string temp_dir(const std::string& tag);

}  // namespace ipa::test
