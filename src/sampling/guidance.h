// Classifier-free guidance as diffusers' Stable Diffusion pipelines apply it to the UNet output
// of the batch [uncond..., cond...], in the same float32 operations.
#pragma once
#include "tensor/tensor.h"

namespace ipa::sampling {

// uncond + scale * (cond - uncond).
Tensor classifier_free_guidance(const Tensor& uncond, const Tensor& cond, float scale);

// The same for a batch whose first half is the unconditional prediction (torch.chunk(2)).
Tensor classifier_free_guidance(const Tensor& batched, float scale);

// diffusers' rescale_noise_cfg (arXiv:2305.08891, section 3.4): rescales the guided
// prediction per sample to the standard deviation of the conditional one, then blends with
// weight `guidance_rescale` in [0, 1].
Tensor rescale_guidance(const Tensor& guided, const Tensor& cond, float guidance_rescale);

}  // namespace ipa::sampling
