// libFuzzer target: the restricted unpickler and the state-dict flattening on raw pickle bytes.
#include <cstddef>
#include <cstdint>

#include "base/error.h"
#include "formats/pickle.h"
#include "formats/state_dict.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ipa::pickle::Document doc = ipa::pickle::unpickle(data, size, "fuzz.pkl");
    ipa::flatten_state_dict(*doc.root(), "fuzz.pkl");
  } catch (const ipa::Error&) {
  }
  return 0;
}
