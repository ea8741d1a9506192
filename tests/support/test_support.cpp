#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <sstream>

#include "formats/safetensors.h"

namespace ipa::test {

namespace {
// The goldens are F32 results and the unit tests' expectations assume F32: the default
// precision (`auto`, which may choose bf16 on this CPU) is pinned to f32 for every test and
// every CLI it runs, unless the environment says otherwise. Tests of `auto` and bf16 ask for
// them explicitly.
const bool kPrecisionPinned = setenv("IPADAPTER_PRECISION", "f32", /*overwrite=*/0) == 0;
}  // namespace

bool precision_pinned() {
  return kPrecisionPinned;
}

std::string golden_dir() {
  const char* env = std::getenv("IPADAPTER_GOLDEN_DIR");
  if (env && *env) return env;
  return std::string(IPA_SOURCE_DIR) + "/tests/data";
}

std::string golden_path(const std::string& rel) {
  return golden_dir() + "/" + rel;
}

std::vector<std::string> golden_files_with_suffix(const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(golden_dir())) {
    const std::string p = e.path().string();
    if (e.is_regular_file() && p.size() > suffix.size() && p.ends_with(suffix)) out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  return out;
}

nlohmann::json load_case(const std::string& name) {
  const std::string path = golden_path(name + "/" + name + ".json");
  std::ifstream in(path);
  if (!in) throw Error("cannot open case JSON", path);
  return nlohmann::json::parse(in);
}

std::string single_file_config(const nlohmann::json& c) {
  const std::string call = c.at("from_single_file_call").get<std::string>();
  const std::string start = "config='../";
  const size_t a = call.find(start);
  const size_t b = a == std::string::npos ? a : call.find('\'', a + start.size());
  if (b == std::string::npos) throw Error("no config='../<folder>' in " + call);
  return call.substr(a + start.size(), b - a - start.size());
}

const TensorFile& load_golden(const std::string& name) {
  static std::map<std::string, std::unique_ptr<TensorFile>> cache;
  auto& slot = cache[name];
  if (!slot) {
    slot = std::make_unique<TensorFile>(
        read_safetensors(golden_path(name + "/" + name + ".golden.safetensors")));
  }
  return *slot;
}

Tensor golden_tensor(const TensorFile& file, const std::string& key) {
  const Tensor* t = file.find(key);
  if (!t) throw Error("golden tensor missing", file.path, key);
  return *t;
}

namespace {
struct Diff {
  double max_abs_err = 0, max_expected = 0;
  int64_t where = -1;
  bool nan = false;
};
Diff diff(const Tensor& actual, const Tensor& expected) {
  Diff d;
  const std::vector<float> a = actual.to_floats(), e = expected.to_floats();
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(e[i])) d.nan = true;
    const double err = std::fabs(static_cast<double>(a[i]) - e[i]);
    if (err > d.max_abs_err) {
      d.max_abs_err = err;
      d.where = static_cast<int64_t>(i);
    }
    d.max_expected = std::max(d.max_expected, std::fabs(static_cast<double>(e[i])));
  }
  return d;
}
}  // namespace

double max_rel_error(const Tensor& actual, const Tensor& expected) {
  if (actual.shape() != expected.shape()) {
    // Comparing a prefix (or reading past the end) would give a meaningless number.
    ADD_FAILURE() << "max_rel_error: shape " << shape_str(actual.shape()) << " vs expected "
                  << shape_str(expected.shape());
    return std::numeric_limits<double>::infinity();
  }
  Diff d = diff(actual, expected);
  return d.max_abs_err / std::max(1e-30, d.max_expected);
}

static ::testing::AssertionResult compare(const Tensor& actual, const Tensor& expected,
                                          double bound, const char* what) {
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << "shape " << shape_str(actual.shape()) << " vs expected "
                                         << shape_str(expected.shape());
  }
  Diff d = diff(actual, expected);
  const double limit = std::string(what) == "rel" ? bound * d.max_expected : bound;
  if (d.nan || !(d.max_abs_err <= limit)) {
    auto f = ::testing::AssertionFailure();
    f << "max |delta| = " << d.max_abs_err << " at flat index " << d.where
      << " (max |expected| = " << d.max_expected << ", limit " << limit << ")";
    if (d.nan) f << "; NaN pattern differs";
    if (d.where >= 0) {
      f << "; actual " << actual.to_floats()[d.where] << " expected "
        << expected.to_floats()[d.where];
    }
    return f;
  }
  return ::testing::AssertionSuccess() << "max |delta| = " << d.max_abs_err;
}

::testing::AssertionResult AllCloseRel(const Tensor& actual, const Tensor& expected,
                                       double rel_tol) {
  return compare(actual, expected, rel_tol, "rel");
}

::testing::AssertionResult AllCloseAbs(const Tensor& actual, const Tensor& expected,
                                       double abs_tol) {
  return compare(actual, expected, abs_tol, "abs");
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

int run_cli(const std::vector<std::string>& args, std::string* output) {
  std::string cmd = std::string("'") + IPA_CLI_PATH + "'";
  for (const auto& a : args) {
    std::string q;
    for (char c : a) {
      if (c == '\'')
        q += "'\\''";
      else
        q += c;
    }
    cmd += " '" + q + "'";
  }
  cmd += " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return -1;
  std::array<char, 4096> buf;
  std::string out;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int status = pclose(pipe);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string temp_dir(const std::string& tag) {
  auto base =
      std::filesystem::temp_directory_path() / ("ipa_test_" + tag + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base);
  return base.string();
}

FloatArray float_array(const Tensor& t) {
  return {std::vector<int64_t>(t.shape().begin(), t.shape().end()), t.to_floats()};
}

Tensor tensor(const FloatArray& a) {
  return Tensor::from_floats(Shape(a.shape.begin(), a.shape.end()), a.data.data());
}

}  // namespace ipa::test
