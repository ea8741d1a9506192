// safetensors: 8-byte little-endian header length, JSON header, raw data. Strictly validated.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "formats/tensor_file.h"

namespace ipa {

// Parses a safetensors image held in memory that `owner` keeps alive; views point into it.
// `path` is used in error messages only.
TensorFile parse_safetensors(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                             const std::string& path);
TensorFile read_safetensors(const std::string& path);  // memory-mapped

// A diffusers `*.safetensors.index.json` with its shards beside it.
TensorFile read_safetensors_sharded(const std::string& index_path);

// Writes tensors (any dtype, any strides) in file order; header padded to 8 bytes.
void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ipa
