#include "tensor/dtype.h"

namespace ipa {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::F16:
      return 2;
    case DType::BF16:
      return 2;
    case DType::I64:
      return 8;
    case DType::I32:
      return 4;
    case DType::U8:
      return 1;
    case DType::Bool:
      return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
    case DType::I64:
      return "I64";
    case DType::I32:
      return "I32";
    case DType::U8:
      return "U8";
    case DType::Bool:
      return "BOOL";
  }
  return "?";
}

bool dtype_from_name(const std::string& name, DType* out) {
  static const struct {
    const char* name;
    DType type;
  } kNames[] = {{"F32", DType::F32},  {"F16", DType::F16}, {"BF16", DType::BF16},
                {"I64", DType::I64},  {"I32", DType::I32}, {"U8", DType::U8},
                {"BOOL", DType::Bool}};
  for (const auto& n : kNames) {
    if (name == n.name) {
      *out = n.type;
      return true;
    }
  }
  return false;
}

}  // namespace ipa
