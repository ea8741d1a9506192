// Paddle `.pdparams` files (`model_state.pdparams`, as paddle.save writes a state dict): a
// plain pickle (no zip) of a dict of numpy arrays, read by the restricted unpickler in its
// numpy dialect, so nothing in the file is executed. Names and layouts are Paddle's as stored
// (Linear weights [in, out]); weights/paddle_names.h turns a CLIP vision encoder's into
// transformers' names and layout.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "formats/tensor_file.h"

namespace ipa {

// Float arrays: f4 → F32, f2 → F16, u2 → BF16 (Paddle stores bfloat16 as uint16), f8 → F32
// (converted); integers i8, i4, u1 and bools as they are. Tensors are views into the mapped
// file where the data is aligned, copies otherwise. The name table paddle.save adds
// ("StructuredToParameterName@@") is skipped; arrays split by the protocol-2/3 writer
// ("UnpackBigParamInfor@@") are refused with a message.
TensorFile read_pdparams(const std::string& path);

// The same on bytes held in memory that `owner` keeps alive; `path` names errors only.
TensorFile parse_pdparams(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                          const std::string& path);

}  // namespace ipa
