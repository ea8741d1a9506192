// The CUDA backend against the CPU ops (the reference: src/ops/cpu, itself tested against
// PyTorch's semantics in tests/unit). Every op runs on the GPU in F32, F16 and BF16 and is
// compared with the CPU op on the same inputs rounded to that dtype, so what is measured is the
// GPU op's own error, by the relative L2 error ‖gpu − cpu‖ / ‖cpu‖:
//   F32   1e-5: F32 arithmetic throughout (no TF32: CUBLAS_COMPUTE_32F, CUDNN_FMA_MATH); only
//         the summation order differs from oneDNN's (≈ √K·2⁻²⁴ ≈ 2e-6 for K = 1280).
//   F16   2e-3: the output is rounded to F16 (2⁻¹¹ ≈ 4.9e-4 relative at most, ≈ 2.8e-4 rms) and
//         attention's probabilities are rounded to F16 before P·V, as in PyTorch.
//   BF16  1e-2: the same with 8-bit mantissas (2⁻⁹ ≈ 2e-3 at most, ≈ 1.1e-3 rms, twice that
//         where two roundings stack), with room for error growth in the two-GEMM attention.
// Exact ops (copies, gathers, argmax, conversions) must match bit for bit.
//
// Without a GPU (or driver) every GPU test is skipped with the reason; the registration test
// runs everywhere and checks that the missing GPU is a clean ipa::Error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "ops/backend.h"
#include "ops/cuda/cuda_allocator.h"
#include "ops/cuda/cuda_backend.h"
#include "tensor/device.h"
#include "tensor/tensor.h"

namespace ipa {
// gtest prints the dtype parameter by name.
void PrintTo(DType t, std::ostream* os) {
  *os << dtype_name(t);
}

namespace {

const Device kGpu{DeviceType::CUDA, 0};

// register_cuda_backend() once per process: "" when it worked, else its message.
const std::string& registration_error() {
  static const std::string error = [] {
    try {
      ops::cuda::register_cuda_backend();
      return std::string();
    } catch (const Error& e) {
      return std::string(e.what());
    }
  }();
  return error;
}

// IPA_CUDA_TESTS_REQUIRE_GPU=1 (scripts/gpu-check.sh sets it on the GPU machine) turns the
// skips into failures, so a GPU run whose registration failed cannot pass by skipping.
bool gpu_required() {
  const char* v = std::getenv("IPA_CUDA_TESTS_REQUIRE_GPU");
  return v != nullptr && std::string(v) == "1";
}

#define REQUIRE_GPU()                                                                \
  do {                                                                               \
    if (!registration_error().empty()) {                                             \
      if (gpu_required()) FAIL() << "no GPU: " << registration_error();              \
      GTEST_SKIP() << "no GPU here (register_cuda_backend: " << registration_error() \
                   << "); run on a CUDA machine, see docs/cuda.md";                  \
    }                                                                                \
  } while (0)

Tensor randn(const Shape& shape, uint32_t seed, float scale = 1.f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(static_cast<size_t>(numel_of(shape)));
  for (float& x : v) x = dist(gen);
  return Tensor::from_vector(shape, v);
}

// The host tensor rounded to `dt` (still F32): what the CPU reference sees.
Tensor rounded(const Tensor& t, DType dt) {
  return t.to(dt).to(DType::F32);
}
// The host tensor in `dt` on the GPU.
Tensor gpu(const Tensor& t, DType dt) {
  return t.to(dt).to(kGpu);
}

double tolerance(DType dt) {
  switch (dt) {
    case DType::F32:
      return 1e-5;
    case DType::F16:
      return 2e-3;
    default:
      return 1e-2;
  }
}

void expect_close(const Tensor& on_gpu, const Tensor& ref, DType dt, const std::string& what) {
  ASSERT_TRUE(on_gpu.defined()) << what;
  EXPECT_EQ(on_gpu.device(), kGpu) << what;
  EXPECT_EQ(on_gpu.dtype(), dt) << what << ": the result must keep the inputs' dtype";
  ASSERT_EQ(on_gpu.shape(), ref.shape())
      << what << ": " << on_gpu.describe() << " vs " << ref.describe();
  const std::vector<float> g = on_gpu.to_floats(), r = ref.to_floats();
  double num = 0, den = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_FALSE(std::isnan(g[i]) && !std::isnan(r[i])) << what << ": NaN at " << i;
    const double d = static_cast<double>(g[i]) - r[i];
    num += d * d;
    den += static_cast<double>(r[i]) * r[i];
  }
  const double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  std::printf("  [err] %-50s %-4s %.3g (bound %.0e)\n", what.c_str(), dtype_name(dt), rel,
              tolerance(dt));
  EXPECT_LE(rel, tolerance(dt)) << what << " in " << dtype_name(dt);
}

void expect_exact(const Tensor& on_gpu, const Tensor& ref, const std::string& what) {
  ASSERT_EQ(on_gpu.shape(), ref.shape()) << what;
  ASSERT_EQ(on_gpu.dtype(), ref.dtype()) << what;
  const Tensor host = on_gpu.to(Device{});
  ASSERT_EQ(host.nbytes(), ref.nbytes());
  EXPECT_EQ(std::memcmp(host.raw(), ref.contiguous().raw(), ref.nbytes()), 0) << what;
}

// ---- runs everywhere -------------------------------------------------------------------------

TEST(CudaRegistration, ReportsAMissingGpuAsAClearErrorOrRegisters) {
  const std::string& err = registration_error();
  if (err.empty()) {
    EXPECT_TRUE(has_device_memory(DeviceType::CUDA));
    EXPECT_NO_THROW(ops::backend(kGpu));
    std::printf("  [gpu] %s\n", ops::backend(kGpu).describe(kGpu).c_str());
    return;
  }
  std::printf("  [no gpu] %s\n", err.c_str());
  EXPECT_FALSE(gpu_required()) << "IPA_CUDA_TESTS_REQUIRE_GPU=1 but: " << err;
  EXPECT_EQ(err.rfind("no CUDA device: ", 0), 0u) << err;
  EXPECT_GT(err.size(), std::string("no CUDA device: ").size() + 3) << "the reason is missing";
  // Nothing half-registered: a CUDA tensor is still the clear "no backend" error, and asking
  // again gives the same answer (no crash, no abort).
  EXPECT_FALSE(has_device_memory(DeviceType::CUDA));
  EXPECT_THROW(Tensor::empty_on(kGpu, {2}), Error);
  EXPECT_THROW(ops::backend(kGpu), Error);
  try {
    ops::cuda::register_cuda_backend();
    ADD_FAILURE() << "registered the second time";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), err);
  }
}

// The allocator's size buckets (host arithmetic; runs everywhere): small requests in 512-byte
// steps, large ones in eighths of their power of two, never smaller than asked, at most 12.5 %
// (or 511 bytes) more.
TEST(CudaAllocator, BucketSizesCoverTheRequestWithBoundedWaste) {
  using ops::cuda::CachingAllocator;
  EXPECT_EQ(CachingAllocator::bucket_size(1), 512u);
  EXPECT_EQ(CachingAllocator::bucket_size(512), 512u);
  EXPECT_EQ(CachingAllocator::bucket_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::bucket_size(size_t{1} << 20), size_t{1} << 20);
  EXPECT_EQ(CachingAllocator::bucket_size((size_t{1} << 20) + 1), (size_t{9} << 20) / 8);
  EXPECT_EQ(CachingAllocator::bucket_size(size_t{64} << 20), size_t{64} << 20);
  EXPECT_EQ(CachingAllocator::bucket_size((size_t{64} << 20) + 1), size_t{72} << 20);
  std::mt19937_64 gen(7);
  for (int i = 0; i < 10000; ++i) {
    const size_t bytes = 1 + gen() % (size_t{8} << 30);
    const size_t b = CachingAllocator::bucket_size(bytes);
    ASSERT_GE(b, bytes);
    ASSERT_LE(b, bytes + std::max<size_t>(511, bytes / 8)) << bytes;
    ASSERT_EQ(CachingAllocator::bucket_size(b), b) << "a bucket size is its own bucket";
  }
}

// ---- device memory ---------------------------------------------------------------------------

TEST(CudaMemory, RoundTripsEveryDtypeExactly) {
  REQUIRE_GPU();
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    const Tensor h = randn({3, 5, 7}, 1).to(dt);
    expect_exact(h.to(kGpu), h, std::string("round trip ") + dtype_name(dt));
  }
  Tensor ids = Tensor::empty({4, 3}, DType::I64);
  for (int i = 0; i < 12; ++i) ids.data<int64_t>()[i] = int64_t{1} << (3 * i);
  expect_exact(ids.to(kGpu), ids, "round trip I64");
  // Large enough to bypass the pinned staging ring (256 KiB slots).
  const Tensor big = randn({3, 1024, 1024}, 2);
  expect_exact(big.to(kGpu), big, "round trip 12 MiB");
}

TEST(CudaMemory, ZerosAndStridedCopiesAndConversionsMatchTheHost) {
  REQUIRE_GPU();
  const Tensor z = Tensor::zeros_on(kGpu, {5, 9}, DType::BF16);
  expect_exact(z, Tensor::zeros({5, 9}, DType::BF16), "zeros_on");
  const Tensor h = randn({4, 6, 10}, 3, 10.f);
  const Tensor d = h.to(kGpu);
  // A permuted view and a narrowed one, made contiguous on the device.
  expect_exact(d.permute({2, 0, 1}).contiguous(), h.permute({2, 0, 1}).contiguous(), "permute");
  expect_exact(d.narrow(1, 2, 3).contiguous(), h.narrow(1, 2, 3).contiguous(), "narrow");
  // Conversions round to nearest even on both sides: bit-identical.
  for (DType from : {DType::F32, DType::F16, DType::BF16}) {
    for (DType to : {DType::F32, DType::F16, DType::BF16}) {
      const Tensor src = h.to(from);
      expect_exact(src.to(kGpu).transpose(0, 2).to(to), src.transpose(0, 2).to(to),
                   std::string("convert ") + dtype_name(from) + "→" + dtype_name(to));
    }
  }
  Tensor ids = Tensor::empty({3, 4}, DType::I32);
  for (int i = 0; i < 12; ++i) ids.data<int32_t>()[i] = i * 7 - 20;
  expect_exact(ids.to(kGpu).transpose(0, 1).contiguous(), ids.transpose(0, 1).contiguous(),
               "I32 transpose");
  EXPECT_THROW(ids.to(kGpu).to(DType::F32), Error);  // integers convert only to themselves
}

TEST(CudaMemory, PeakMemoryCountsLiveTensorsAndBlocksAreReused) {
  REQUIRE_GPU();
  ops::Backend& be = ops::backend(kGpu);
  be.synchronize(kGpu);
  be.reset_peak_memory(kGpu);
  const size_t base = be.peak_memory_bytes(kGpu);
  {
    const Tensor a = Tensor::empty_on(kGpu, {16, 1024, 1024});  // 64 MiB
    EXPECT_GE(be.peak_memory_bytes(kGpu), base + (size_t{64} << 20));
  }
  {
    const Tensor b = Tensor::empty_on(kGpu, {16, 1024, 1024});  // the same block again
    EXPECT_LT(be.peak_memory_bytes(kGpu), base + (size_t{72} << 20));
  }
  EXPECT_NE(be.describe(kGpu).find("cuda:0"), std::string::npos) << be.describe(kGpu);
}

TEST(CudaMemory, ABadDeviceIndexIsAClearError) {
  REQUIRE_GPU();
  try {
    Tensor::empty_on(Device{DeviceType::CUDA, 999}, {4});
    ADD_FAILURE() << "cuda:999 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:999"), std::string::npos) << e.what();
  }
}

// ---- ops, per dtype --------------------------------------------------------------------------

class CudaOps : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override { REQUIRE_GPU(); }
  ops::Backend& be() { return ops::backend(kGpu); }
  DType dt() const { return GetParam(); }
  Tensor g(const Tensor& t) const { return gpu(t, GetParam()); }
  Tensor r(const Tensor& t) const { return rounded(t, GetParam()); }
};

TEST_P(CudaOps, Linear) {
  const Tensor x = randn({2, 77, 320}, 10), w = randn({640, 320}, 11, 0.05f), b = randn({640}, 12);
  for (auto act : {ops::Activation::None, ops::Activation::GELU, ops::Activation::GELUTanh,
                   ops::Activation::QuickGELU, ops::Activation::SiLU}) {
    const std::string name = "linear act " + std::to_string(static_cast<int>(act));
    expect_close(be().linear(g(x), g(w), g(b), act), ops::linear(r(x), r(w), r(b), act), dt(),
                 name);
    expect_close(be().linear(g(x), g(w), Tensor(), act), ops::linear(r(x), r(w), Tensor(), act),
                 dt(), name + " no bias");
  }
  // F32 weights with lower-precision activations are converted to the activations' dtype.
  expect_close(be().linear(g(x), w.to(kGpu), b.to(kGpu), ops::Activation::None),
               ops::linear(r(x), r(w), r(b)), dt(), "linear F32 weights");
  // Odd sizes (unaligned rows, one row) and a strided input.
  const Tensor x2 = randn({1, 3}, 13), w2 = randn({5, 3}, 14), b2 = randn({5}, 15);
  expect_close(be().linear(g(x2), g(w2), g(b2), ops::Activation::None),
               ops::linear(r(x2), r(w2), r(b2)), dt(), "linear 1x3x5");
  const Tensor xt = randn({320, 10}, 16);
  expect_close(be().linear(g(xt).transpose(0, 1), g(w), g(b), ops::Activation::None),
               ops::linear(r(xt).transpose(0, 1), r(w), r(b)), dt(), "linear strided x");
  EXPECT_THROW(be().linear(g(x), g(randn({640, 300}, 17)), Tensor(), ops::Activation::None), Error);
}

TEST_P(CudaOps, Matmul) {
  struct Case {
    Shape a, b;
    bool trans_b;
    float alpha;
  };
  const Case cases[] = {{{2, 3, 5, 7}, {2, 3, 7, 4}, false, 1.f},
                        {{2, 3, 5, 7}, {1, 3, 4, 7}, true, 0.5f},
                        {{2, 1, 5, 7}, {1, 3, 7, 4}, false, 1.f},  // both sides broadcast
                        {{5, 7}, {4, 2, 7, 6}, false, 2.f},
                        {{64, 40}, {77, 40}, true, 0.125f}};
  for (const Case& c : cases) {
    const Tensor a = randn(c.a, 20), b = randn(c.b, 21);
    expect_close(be().matmul(g(a), g(b), c.trans_b, c.alpha),
                 ops::matmul(r(a), r(b), c.trans_b, c.alpha), dt(),
                 "matmul " + a.describe() + " " + b.describe());
  }
}

TEST_P(CudaOps, Conv2d) {
  struct Case {
    Shape x, w;
    ops::Conv2dParams p;
  };
  ops::Conv2dParams down;  // the VAE encoder's downsample: pad right/bottom only, stride 2
  down.stride_h = down.stride_w = 2;
  down.pad_bottom = down.pad_right = 1;
  ops::Conv2dParams grouped = ops::Conv2dParams::same(1, 1);
  grouped.groups = 2;
  ops::Conv2dParams dilated = ops::Conv2dParams::same(1, 2);
  dilated.dilation_h = dilated.dilation_w = 2;
  const Case cases[] = {{{2, 8, 16, 16}, {16, 8, 3, 3}, ops::Conv2dParams::same(1, 1)},
                        {{1, 8, 17, 15}, {8, 8, 3, 3}, down},
                        {{2, 8, 16, 16}, {12, 4, 3, 3}, grouped},
                        {{1, 4, 12, 12}, {4, 4, 3, 3}, dilated},
                        {{2, 16, 8, 8}, {32, 16, 1, 1}, ops::Conv2dParams::same(1, 0)}};
  for (const Case& c : cases) {
    const Tensor x = randn(c.x, 30), w = randn(c.w, 31, 0.2f), b = randn({c.w[0]}, 32);
    expect_close(be().conv2d(g(x), g(w), g(b), c.p), ops::conv2d(r(x), r(w), r(b), c.p), dt(),
                 "conv2d " + x.describe() + " " + w.describe());
    expect_close(be().conv2d(g(x), g(w), Tensor(), c.p), ops::conv2d(r(x), r(w), Tensor(), c.p),
                 dt(), "conv2d no bias " + w.describe());
  }
}

TEST_P(CudaOps, Norms) {
  const Tensor x = randn({2, 64, 8, 8}, 40, 3.f), gamma = randn({64}, 41), beta = randn({64}, 42);
  for (bool silu : {false, true}) {
    expect_close(be().group_norm(g(x), 32, gamma.to(kGpu), beta.to(kGpu), 1e-5f, silu),
                 ops::group_norm(r(x), 32, gamma, beta, 1e-5f, silu), dt(),
                 std::string("group_norm") + (silu ? "+silu" : ""));
  }
  expect_close(be().group_norm(g(x), 8, Tensor(), Tensor(), 1e-6f, false),
               ops::group_norm(r(x), 8, Tensor(), Tensor(), 1e-6f, false), dt(),
               "group_norm no affine");
  const Tensor y = randn({3, 77, 768}, 43, 2.f), lg = randn({768}, 44), lb = randn({768}, 45);
  expect_close(be().layer_norm(g(y), lg.to(kGpu), lb.to(kGpu), 1e-5f),
               ops::layer_norm(r(y), lg, lb, 1e-5f), dt(), "layer_norm");
  expect_close(be().layer_norm(g(y), Tensor(), Tensor(), 1e-5f),
               ops::layer_norm(r(y), Tensor(), Tensor(), 1e-5f), dt(), "layer_norm no affine");
  const Tensor s = randn({4, 1000}, 46, 4.f);
  expect_close(be().softmax(g(s)), ops::softmax(r(s)), dt(), "softmax");
}

TEST_P(CudaOps, Attention) {
  const int H = 8;
  const int64_t B = 2, D = 40, Lq = 64;
  for (int64_t Lk : {int64_t{77}, int64_t{64}, int64_t{300}}) {
    const Tensor q = randn({B, Lq, H * D}, 50), k = randn({B, Lk, H * D}, 51),
                 v = randn({B, Lk, H * D}, 52);
    const float scale = 1.f / std::sqrt(static_cast<float>(D));
    const std::string shape = " Lk=" + std::to_string(Lk);
    expect_close(be().attention(g(q), g(k), g(v), H, scale, Tensor()),
                 ops::attention(r(q), r(k), r(v), H, scale), dt(), "attention" + shape);
    for (const Shape& ms : {Shape{Lq, Lk}, Shape{B, 1, Lq, Lk}, Shape{B, H, Lq, Lk}}) {
      const Tensor mask = randn(ms, 53, 2.f);
      expect_close(be().attention(g(q), g(k), g(v), H, scale, mask.to(kGpu)),
                   ops::attention(r(q), r(k), r(v), H, scale, mask), dt(),
                   "attention mask " + mask.describe() + shape);
    }
  }
}

TEST_P(CudaOps, Pointwise) {
  const Tensor x = randn({3, 50, 70}, 60, 3.f);
  for (auto act : {ops::Activation::GELU, ops::Activation::GELUTanh, ops::Activation::QuickGELU,
                   ops::Activation::SiLU}) {
    expect_close(be().activation(g(x), act), ops::activation(r(x), act), dt(),
                 "activation " + std::to_string(static_cast<int>(act)));
  }
  expect_close(be().geglu(g(x.narrow(2, 0, 64))), ops::geglu(r(x).narrow(2, 0, 64)), dt(),
               "geglu (strided input)");
  const Tensor a = randn({2, 3, 4, 5}, 61), b = randn({3, 1, 5}, 62, 2.f);
  using B = ops::Backend::Binary;
  expect_close(be().binary(B::Add, g(a), g(b)), ops::add(r(a), r(b)), dt(), "add broadcast");
  expect_close(be().binary(B::Sub, g(b), g(a)), ops::sub(r(b), r(a)), dt(), "sub broadcast");
  expect_close(be().binary(B::Mul, g(a), g(b)), ops::mul(r(a), r(b)), dt(), "mul broadcast");
  std::vector<float> away(static_cast<size_t>(b.numel()));
  const std::vector<float> bf = b.to_floats();
  for (size_t i = 0; i < away.size(); ++i) away[i] = bf[i] + (bf[i] < 0 ? -1.f : 1.f);
  const Tensor bd = Tensor::from_vector(b.shape(), away);  // no divisions by near zero
  expect_close(be().binary(B::Div, g(a), g(bd)), ops::div(r(a), r(bd)), dt(), "div broadcast");
  expect_close(be().scale(g(a), -0.3f), ops::scale(r(a), -0.3f), dt(), "scale");
  const Tensor c = randn({2, 3, 4, 5}, 64);
  expect_close(be().add_scaled(g(a), g(c), 0.7f), ops::add_scaled(r(a), r(c), 0.7f), dt(),
               "add_scaled");
  Tensor acc = g(a).clone();
  be().add_(acc, g(b));
  expect_close(acc, ops::add(r(a), r(b)), dt(), "add_");
  EXPECT_THROW(be().binary(B::Add, g(a), g(randn({3, 2}, 65))), Error);
}

TEST_P(CudaOps, ShapesLookupsAndResampling) {
  const Tensor a = randn({2, 3, 4}, 70), b = randn({2, 5, 4}, 71), c = randn({2, 1, 4}, 72);
  for (int64_t dim : {int64_t{1}, int64_t{-2}}) {
    expect_exact(be().concat({g(a), g(b), g(c)}, dim),
                 ops::concat({a.to(dt()), b.to(dt()), c.to(dt())}, dim), "concat");
  }
  expect_exact(be().concat({g(a), g(a)}, 0), ops::concat({a.to(dt()), a.to(dt())}, 0), "concat 0");
  expect_exact(be().concat({g(a), g(a)}, 2), ops::concat({a.to(dt()), a.to(dt())}, 2), "concat 2");

  const Tensor table = randn({50, 16}, 73);
  Tensor ids = Tensor::empty({2, 7}, DType::I64);
  for (int i = 0; i < 14; ++i) ids.data<int64_t>()[i] = (i * 13) % 50;
  expect_exact(be().embedding(g(table), ids.to(kGpu)), ops::embedding(table.to(dt()), ids).to(dt()),
               "embedding I64");
  const Tensor ids32 = ids.to(DType::I32);
  expect_exact(be().embedding(g(table), ids32.to(kGpu)),
               ops::embedding(table.to(dt()), ids32).to(dt()), "embedding I32");
  ids.data<int64_t>()[5] = 50;
  EXPECT_THROW(be().embedding(g(table), ids.to(kGpu)), Error);

  std::vector<float> vals = {1, 3, 3, 2, -1, -5, -5, -7, 0, 0, 0, 0};
  vals[10] = std::numeric_limits<float>::quiet_NaN();
  const Tensor am = Tensor::from_vector({3, 4}, vals);
  expect_exact(be().argmax(g(am), 1), ops::argmax(am, 1), "argmax ties and NaN");
  expect_exact(be().argmax(g(am), 0), ops::argmax(am, 0), "argmax dim 0");

  Tensor t = Tensor::from_vector({3}, {0.f, 261.f, 999.f});
  for (bool flip : {false, true}) {
    for (int64_t dim : {int64_t{320}, int64_t{7}}) {
      expect_close(be().timestep_embedding(g(t), dim, flip, 1.f, 10000.f),
                   ops::timestep_embedding(r(t), dim, flip, 1.f), dt(),
                   "timestep_embedding dim " + std::to_string(dim) + (flip ? " flip" : ""));
    }
  }

  const Tensor img = randn({2, 3, 9, 13}, 74);
  expect_close(be().upsample_nearest(g(img), 18, 26), ops::upsample_nearest(r(img), 18, 26), dt(),
               "upsample_nearest 2x");
  for (auto mode : {ops::Interp::Nearest, ops::Interp::Bilinear, ops::Interp::Bicubic}) {
    for (bool ac : {false, true}) {
      for (auto [oh, ow] : {std::pair<int64_t, int64_t>{20, 7}, {5, 31}, {224, 224}}) {
        expect_close(be().interpolate(g(img), oh, ow, mode, ac),
                     ops::interpolate(r(img), oh, ow, mode, ac), dt(),
                     "interpolate mode " + std::to_string(static_cast<int>(mode)) + " ac " +
                         std::to_string(ac) + " " + std::to_string(oh) + "x" + std::to_string(ow));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CudaOps, ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(dtype_name(info.param));
                         });

}  // namespace
}  // namespace ipa
