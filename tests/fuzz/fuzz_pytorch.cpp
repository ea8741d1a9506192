// libFuzzer target: the whole PyTorch zip reader (zip layer, unpickler, state-dict flattening,
// storage and view checks) on an in-memory archive, then read every tensor value.
#include <cstddef>
#include <cstdint>

#include "formats/pytorch.h"
#include "touch_tensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ipa::TensorFile f = ipa::parse_pytorch(nullptr, data, size, "fuzz.bin");
    ipa::fuzz::touch_tensors(f);
  } catch (const ipa::Error&) {
  }
  return 0;
}
