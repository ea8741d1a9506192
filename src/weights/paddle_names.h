// A Paddle CLIP vision encoder's state dict (the PaddleNLP mirror's `model_state.pdparams`) in
// the names and layout of transformers' CLIPVisionModelWithProjection, which the engine loads.
// Paddle's Linear keeps its weight as [in, out], torch's as [out, in], so every Linear weight
// (and the projection, a bare [hidden, projection] parameter) is transposed: as a strided view,
// made contiguous when the model converts it.
//
// Two namings exist: PaddleNLP's own module tree (vision_model.conv1, .transformer.layers.N
// .linear1, vision_projection, ...; PaddleNLP's CLIPVisionModelWithProjection._get_name_mappings)
// and ppdiffusers' (already transformers' names, Paddle layout). Both are recognised.
#pragma once
#include "formats/tensor_file.h"

namespace ipa {

// Renames and transposes in place. Throws ipa::Error naming the file when a tensor to
// transpose is not 2-D.
void paddle_clip_vision_to_transformers(TensorFile& file);

}  // namespace ipa
