// libFuzzer target: parse_safetensors on arbitrary bytes, then read every tensor value.
#include <cstddef>
#include <cstdint>

#include "formats/safetensors.h"
#include "touch_tensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ipa::TensorFile f = ipa::parse_safetensors(nullptr, data, size, "fuzz.safetensors");
    ipa::fuzz::touch_tensors(f);
  } catch (const ipa::Error&) {
    // Rejected with a message: the expected outcome for most inputs.
  }
  return 0;
}
