// libFuzzer target: parse_safetensors on arbitrary bytes, then read every tensor value.
// Views point into the input buffer, where ASan cannot see a read that strays onto a
// neighbour's bytes; so the byte range of every accepted view is also checked explicitly: it
// must lie inside the buffer and not overlap another non-empty tensor.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "formats/safetensors.h"
#include "touch_tensors.h"

namespace {

void check_ranges(const ipa::TensorFile& f, const uint8_t* data, size_t size) {
  std::vector<std::pair<const uint8_t*, const uint8_t*>> ranges;
  for (const auto& nt : f.tensors) {
    const ipa::Tensor& t = nt.tensor;
    if (t.numel() == 0) continue;
    const auto* begin = static_cast<const uint8_t*>(t.raw());
    if (begin < data || begin >= data + size) continue;  // an aligned copy the reader owns
    int64_t last = 0;
    for (size_t d = 0; d < t.shape().size(); ++d) last += (t.shape()[d] - 1) * t.strides()[d];
    const uint8_t* end = begin + (last + 1) * static_cast<int64_t>(ipa::dtype_size(t.dtype()));
    if (end > data + size) {
      std::fprintf(stderr, "tensor '%s' reaches past the buffer\n", nt.name.c_str());
      std::abort();
    }
    ranges.emplace_back(begin, end);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) {
      std::fprintf(stderr, "accepted tensors overlap\n");
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ipa::TensorFile f = ipa::parse_safetensors(nullptr, data, size, "fuzz.safetensors");
    check_ranges(f, data, size);
    ipa::fuzz::touch_tensors(f);
  } catch (const ipa::Error&) {
    // Rejected with a message: the expected outcome for most inputs.
  }
  return 0;
}
