#include "formats/tensor_file.h"

#include <cstring>

#include "base/mapped_file.h"
#include "formats/pdparams.h"
#include "formats/pytorch.h"
#include "formats/safetensors.h"

namespace ipa {

const Tensor* TensorFile::find(const std::string& name) const {
  for (const auto& nt : tensors) {
    if (nt.name == name) return &nt.tensor;
  }
  return nullptr;
}

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// safetensors: an 8-byte little-endian header length, then a JSON object that fits the file.
// (Its first byte can be anything, 0x80 included: a 640-byte header starts 80 02.)
bool looks_like_safetensors(const uint8_t* d, size_t size) {
  if (size < 9 || d[8] != '{') return false;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | d[i];
  return n <= size - 8;
}
}  // namespace

TensorFile load_tensor_file(const std::string& path) {
  if (ends_with(path, ".index.json")) return read_safetensors_sharded(path);
  auto file = MappedFile::open(path);
  if (file->size() >= 4 && std::memcmp(file->data(), "PK\x03\x04", 4) == 0)
    return read_pytorch(path);
  const uint8_t* d = file->data();
  if (file->size() >= 2 && d[0] == 0x80 && d[1] <= 5 && !looks_like_safetensors(d, file->size())) {
    // torch.save's legacy format starts with its magic number (LONG1 of 10 bytes); any other
    // bare pickle is read as paddle.save's dict of numpy arrays, whose unpickler refuses
    // everything else by name.
    if (file->size() >= 4 && d[2] == 0x8a && d[3] == 0x0a) {
      throw Error(
          "legacy (pre-1.6, non-zip) PyTorch pickle files are not supported; re-save with "
          "torch.save(obj, path) from PyTorch >= 1.6 or convert to safetensors",
          path);
    }
    return read_pdparams(path);
  }
  return read_safetensors(path);
}

}  // namespace ipa
