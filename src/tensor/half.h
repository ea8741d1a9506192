// IEEE binary16 and bfloat16 <-> float32, round-to-nearest-even, inf/nan/subnormals exact.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ipa {

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);  // NaN stays NaN (quiet)

// Bulk conversions (vectorised where the CPU allows).
void f16_to_f32(const uint16_t* src, float* dst, size_t n);
void f32_to_f16(const float* src, uint16_t* dst, size_t n);
void bf16_to_f32(const uint16_t* src, float* dst, size_t n);
void f32_to_bf16(const float* src, uint16_t* dst, size_t n);

}  // namespace ipa
