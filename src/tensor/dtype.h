#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ipa {

enum class DType : uint8_t { F32, F16, BF16, I64, I32, U8, Bool };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "F32", "F16", ... (safetensors spelling)
// Parses the safetensors spelling; returns false for anything unknown.
bool dtype_from_name(const std::string& name, DType* out);

}  // namespace ipa
