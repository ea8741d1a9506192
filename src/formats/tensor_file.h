// What every checkpoint reader produces: named tensor views (zero-copy where the file allows),
// in file order, plus string metadata.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/tensor.h"

namespace ipa {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

struct TensorFile {
  std::string path;
  std::string format;  // "safetensors", "pytorch-zip", "safetensors-sharded", "pdparams"
  std::vector<NamedTensor> tensors;
  std::map<std::string, std::string> metadata;

  const Tensor* find(const std::string& name) const;
};

// Opens any supported file by content (zip magic → PyTorch; a `.index.json` → sharded
// safetensors; a bare pickle → paddle.save's .pdparams (torch's legacy pickle is refused);
// else safetensors). Throws ipa::Error naming the file on any defect.
TensorFile load_tensor_file(const std::string& path);

}  // namespace ipa
