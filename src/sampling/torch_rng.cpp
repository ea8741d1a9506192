// PyTorch CPU generator semantics (torch 1.13 – 2.x):
// - engine: the standard 32-bit Mersenne Twister, seeded with the low 32 bits of the seed;
// - float uniform: the low 24 bits of one draw times 2^-24; double uniform: the low 53 bits of a
//   64-bit value made of two draws (first draw = high half) times 2^-53;
// - randn of a contiguous float tensor with >= 16 elements: fill the whole tensor with float
//   uniforms, then Box-Muller in blocks of 16 (u1 = 1 - x[j], u2 = x[j + 8], j < 8; cos to x[j],
//   sin to x[j + 8]); a ragged tail re-draws 16 fresh uniforms for the last 16 slots and
//   transforms them again. PyTorch's AVX2 kernel (the one x86 builds dispatch to without
//   AVX-512) evaluates log and sincos with Cephes-style float polynomials and fused multiply-adds
//   where the compiler contracted them; reproduced here one lane at a time with explicit fmaf;
// - randn with < 16 elements: per element the double-precision Box-Muller of
//   at::normal_distribution<double>, which caches the sine half for the next call.
#include "sampling/torch_rng.h"

#include <cmath>
#include <cstring>

namespace ipa::sampling {
namespace {

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// Natural log for x in [2^-24, 1] (the only arguments Box-Muller gives it): x = m * 2^e with
// m in [sqrt(1/2), sqrt(2)), log(x) = e*ln2 + log1p(m - 1) via a degree-9 polynomial, ln2 split
// in two parts. Operation order and fusions follow PyTorch's AVX2 build.
float avx2_log(float x) {
  const uint32_t u = float_to_bits(x);
  float e = static_cast<float>(static_cast<int>(u >> 23) - 0x7f) + 1.0f;
  float m = bits_to_float((u & ~0x7f800000u) | 0x3f000000u);  // mantissa in [0.5, 1)
  // Below sqrt(1/2) use 2m - 1 (and one exponent less) so the argument stays near zero.
  const float small = m < 0.707106781186547524f ? m : 0.0f;
  m = m - 1.0f;
  if (small != 0.0f) e = e - 1.0f;
  m = m + small;
  const float z = m * m;
  constexpr float kP[9] = {7.0376836292E-2f,  -1.1514610310E-1f, 1.1676998740E-1f,
                           -1.2420140846E-1f, 1.4249322787E-1f,  -1.6668057665E-1f,
                           2.0000714765E-1f,  -2.4999993993E-1f, 3.3333331174E-1f};
  float y = kP[0];
  for (int i = 1; i < 9; ++i) y = std::fmaf(y, m, kP[i]);
  y = y * m;
  y = std::fmaf(y, z, e * -2.12194440e-4f);  // low part of ln 2
  y = std::fmaf(-z, 0.5f, y);
  return std::fmaf(e, 0.693359375f, m + y);  // high part of ln 2
}

// sin and cos for x in [0, 2*pi): reduce by multiples of pi/4 (pi/4 split in three parts),
// evaluate the sine or cosine polynomial on [-pi/4, pi/4] and fix the signs by octant.
void avx2_sincos(float x, float* sin_out, float* cos_out) {
  uint32_t sin_sign = float_to_bits(x) & 0x80000000u;
  x = std::fabs(x);
  int octant = static_cast<int>(x * 1.27323954473516f);  // x * 4/pi, truncated
  octant = (octant + 1) & ~1;
  const float octant_f = static_cast<float>(octant);
  sin_sign ^= static_cast<uint32_t>(octant & 4) << 29;
  const uint32_t cos_sign = static_cast<uint32_t>(~(octant - 2) & 4) << 29;
  const bool sine_poly_for_sin = (octant & 2) == 0;

  x = std::fmaf(octant_f, -0.78515625f, x);
  x = std::fmaf(octant_f, -2.4187564849853515625e-4f, x);
  x = std::fmaf(octant_f, -3.77489497744594108e-8f, x);
  const float z = x * x;

  float c = 2.443315711809948E-005f;
  c = std::fmaf(c, z, -1.388731625493765E-003f);
  c = std::fmaf(c, z, 4.166664568298827E-002f);
  c = c * z;
  c = std::fmaf(c, z, -(z * 0.5f));
  c = c + 1.0f;

  float s = -1.9515295891E-4f;
  s = std::fmaf(s, z, 8.3321608736E-3f);
  s = std::fmaf(s, z, -1.6666654611E-1f);
  s = s * z;
  s = std::fmaf(s, x, x);

  const float sin_v = sine_poly_for_sin ? s : c;
  const float cos_v = sine_poly_for_sin ? c : s;
  *sin_out = bits_to_float(float_to_bits(sin_v) ^ sin_sign);
  *cos_out = bits_to_float(float_to_bits(cos_v) ^ cos_sign);
}

}  // namespace

void TorchGenerator::manual_seed(uint64_t seed) {
  seed_ = seed;
  engine_.seed(static_cast<std::mt19937::result_type>(seed & 0xffffffffu));
  next_normal_.reset();
}

uint64_t TorchGenerator::random64() {
  const uint64_t hi = random32();
  const uint64_t lo = random32();
  return (hi << 32) | lo;
}

float TorchGenerator::uniform_float() {
  return static_cast<float>(random32() & ((1u << 24) - 1)) * (1.0f / 16777216.0f);
}

double TorchGenerator::uniform_double() {
  return static_cast<double>(random64() & ((uint64_t{1} << 53) - 1)) * (1.0 / 9007199254740992.0);
}

double TorchGenerator::scalar_normal() {
  if (next_normal_) {
    const double cached = *next_normal_;
    next_normal_.reset();
    return cached;
  }
  const double u1 = uniform_double();
  const double u2 = uniform_double();
  const double radius = std::sqrt(-2.0 * std::log(1.0 - u2));
  const double theta = 2.0 * M_PI * u1;
  next_normal_ = radius * std::sin(theta);
  return radius * std::cos(theta);
}

void TorchGenerator::box_muller_16(float* data) const {
  const float two_pi = static_cast<float>(2.0 * M_PI);
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - data[j];
    const float u2 = data[j + 8];
    const float radius = std::sqrt(-2.0f * avx2_log(u1));
    float s, c;
    avx2_sincos(two_pi * u2, &s, &c);
    data[j] = radius * c;
    data[j + 8] = radius * s;
  }
}

void TorchGenerator::fill_randn(float* data, int64_t n) {
  if (n < 16) {
    for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(scalar_normal());
    return;
  }
  for (int64_t i = 0; i < n; ++i) data[i] = uniform_float();
  for (int64_t i = 0; i + 16 <= n; i += 16) box_muller_16(data + i);
  if (n % 16 != 0) {
    float* tail = data + n - 16;
    for (int i = 0; i < 16; ++i) tail[i] = uniform_float();
    box_muller_16(tail);
  }
}

void TorchGenerator::fill_rand(float* data, int64_t n) {
  for (int64_t i = 0; i < n; ++i) data[i] = uniform_float();
}

Tensor TorchGenerator::randn(const Shape& shape) {
  Tensor out = Tensor::empty(shape, DType::F32);
  fill_randn(out.data<float>(), out.numel());
  return out;
}

Tensor TorchGenerator::rand(const Shape& shape) {
  Tensor out = Tensor::empty(shape, DType::F32);
  fill_rand(out.data<float>(), out.numel());
  return out;
}

}  // namespace ipa::sampling
