// Classifier-free guidance runs the UNet on one batch of [unconditional rows; conditional
// rows], diffusers' torch.cat([negative, positive]). Every per-prompt input (text, pooled
// text, time ids, image tokens) is batched here, in one place.
#pragma once
#include "tensor/tensor.h"

namespace ipa {

// cond and uncond [1, ...] → [2n, ...] = uncond × n then cond × n, or cond × n without
// guidance (uncond may then be undefined).
Tensor guidance_batch(const Tensor& cond, const Tensor& uncond, int n, bool guidance);

}  // namespace ipa
