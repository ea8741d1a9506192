// PyTorch checkpoints in the zip format torch.save has written since 1.6 (`.bin`, `.pt`,
// `.ckpt`). The pickle is read by a restricted unpickler that executes nothing: it accepts only
// what a state dict needs and rejects every other global with an error naming it.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "formats/tensor_file.h"

namespace ipa {

// Reads the archive and flattens the pickled object's nested dicts into dotted names
// (`{"image_proj": {"proj.weight": T}}` → "image_proj.proj.weight"). Tensor data is a
// zero-copy view into the memory-mapped file when the entry is stored uncompressed.
TensorFile read_pytorch(const std::string& path);

// The same on an archive held in memory that `owner` keeps alive (views point into it).
// `path` is used in error messages only.
TensorFile parse_pytorch(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                         const std::string& path);

}  // namespace ipa
