// libFuzzer target: the .pdparams reader (restricted unpickler in its numpy dialect, state-dict
// flattening, dtype / shape / data-size checks) on raw bytes, then the Paddle → transformers
// renaming and transposition, then read every tensor value.
#include <cstddef>
#include <cstdint>

#include "formats/pdparams.h"
#include "touch_tensors.h"
#include "weights/paddle_names.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ipa::TensorFile f = ipa::parse_pdparams(nullptr, data, size, "fuzz.pdparams");
    ipa::paddle_clip_vision_to_transformers(f);
    ipa::fuzz::touch_tensors(f);
  } catch (const ipa::Error&) {
  }
  return 0;
}
