// What the checkpoint reader tests share: parsing an exactly sized in-memory copy (so a
// sanitizer sees any over-read), the message a parse ends with, and the truncation and
// bit-flip sweeps after which every reader must end in an ipa::Error, never anything else.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "base/error.h"
#include "formats/tensor_file.h"
#include "torch_archive_builder.h"

namespace ipa::test {

// parse_safetensors, parse_pytorch: (owner, data, size, name in messages).
using ParseFn = TensorFile (*)(std::shared_ptr<const void>, const uint8_t*, size_t,
                               const std::string&);

inline TensorFile parse_copy(ParseFn parse, const Bytes& bytes, const std::string& name) {
  auto copy = std::make_shared<Bytes>(bytes);
  return parse(std::shared_ptr<const void>(copy, copy->data()), copy->data(), copy->size(), name);
}

// "no error", the ipa::Error's message, or "NOT an ipa::Error: ..." for any other exception.
inline std::string parse_copy_error(ParseFn parse, const Bytes& bytes, const std::string& name) {
  try {
    parse_copy(parse, bytes, name);
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("NOT an ipa::Error: ") + e.what();
  }
  return "no error";
}

// Every proper prefix of `whole` must fail with an ipa::Error.
inline void expect_every_truncation_fails(ParseFn parse, const Bytes& whole,
                                          const std::string& name) {
  for (size_t cut = 0; cut < whole.size(); ++cut) {
    const std::string err = parse_copy_error(
        parse, Bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut)), name);
    ASSERT_EQ(err.find("no error"), std::string::npos) << "cut at " << cut;
    ASSERT_EQ(err.find("NOT an ipa::Error"), std::string::npos) << "cut at " << cut << ": " << err;
  }
}

// XORs every byte of `whole` with each mask in turn: each result must parse or end in an
// ipa::Error. Returns how many ended in an error.
inline size_t flipped_byte_errors(ParseFn parse, const Bytes& whole,
                                  std::initializer_list<uint8_t> masks, const std::string& name) {
  size_t errors = 0;
  for (size_t i = 0; i < whole.size(); ++i) {
    for (uint8_t mask : masks) {
      Bytes b = whole;
      b[i] ^= mask;
      const std::string err = parse_copy_error(parse, b, name);
      EXPECT_EQ(err.find("NOT an ipa::Error"), std::string::npos) << "byte " << i << ": " << err;
      if (err.find("NOT an ipa::Error") != std::string::npos) return errors;
      if (err != "no error") ++errors;
    }
  }
  return errors;
}

inline std::vector<float> iota_floats(size_t n, float start = 0.f) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

}  // namespace ipa::test
