// Reference images → image tokens, exactly as the reference's get_image_embeds makes them:
// CLIPImageProcessor → CLIP vision encoder → the adapter's projection; the unconditional tokens
// come from a zero feature (basic) or from the encoder run on all-zero pixel_values (plus,
// full-face — zero in normalised space, i.e. the CLIP mean colour).
#pragma once
#include <memory>
#include <vector>

#include "adapter/ip_adapter.h"
#include "ipadapter/request.h"
#include "image/clip_preprocess.h"
#include "models/clip_vision.h"

namespace ipa {

struct ImagePromptEmbeds {
  Tensor cond;                 // [N, T, C], one row per image
  Tensor uncond;               // [N, T, C]
  Tensor clip_feature;         // the encoder output the projection consumed, [N, P] or [N, L, E]
  Tensor uncond_clip_feature;  // its unconditional counterpart
};

class ImagePromptEncoder {
 public:
  // Binds the encoder to the adapter (a clear error when their widths do not fit).
  ImagePromptEncoder(std::shared_ptr<const ClipVisionModel> encoder,
                     std::shared_ptr<IpAdapter> adapter, const std::string& encoder_dir);

  // pixel_values F32 [N, 3, S, S] (already preprocessed).
  ImagePromptEmbeds encode_pixels(const Tensor& pixel_values) const;

  // The parts of encode_pixels, for callers that change the features before projecting them:
  // the features of the images and their unconditional counterparts (one encoder call)...
  struct Features {
    Tensor cond, uncond;
  };
  Features features(const Tensor& pixel_values) const;
  // ...the feature alone (e.g. of negative images)...
  Tensor feature(const Tensor& pixel_values) const;
  // ...the unconditional feature of n images without the images (zeros, or the encoder on
  // zero pixels)...
  Tensor uncond_feature(int64_t n) const;
  // ...and cond and uncond features (same shape) → their tokens, one projection call.
  std::pair<Tensor, Tensor> project(const Tensor& cond, const Tensor& uncond) const;
  // Decoded RGB images, preprocessed like CLIPImageProcessor() (or squashed).
  ImagePromptEmbeds encode(const std::vector<image::Image>& images,
                           image::ClipResizeMode mode = image::ClipResizeMode::kCenterCrop) const;

  const IpAdapter& adapter() const { return *adapter_; }
  // Preprocessing as the reference does it (CLIPImageProcessor, or squashed).
  Tensor pixels(const std::vector<image::Image>& images, image::ClipResizeMode mode) const;
  const image::ClipPreprocessConfig& preprocess_config() const { return preprocess_; }

 private:
  std::shared_ptr<const ClipVisionModel> encoder_;
  std::shared_ptr<IpAdapter> adapter_;
  image::ClipPreprocessConfig preprocess_;
};

// Several images make one prompt: their tokens are concatenated along the token axis, as
// diffusers does ([N, T, C] → [1, N·T, C]).
Tensor concat_image_tokens(const Tensor& per_image_tokens);

// ComfyUI_IPAdapter_plus's combine_embeds on encoder features [N, ...] → [1, ...]
// (IPAdapterPlus.py ipadapter_execute): add Σ e_i; subtract e_0 − mean(e_1..e_{N−1});
// average mean e_i; norm_average mean_i(e_i / ‖E‖) with the L2 norm taken across the N images
// per element. Computed in double per element. Concat returns the features unchanged.
Tensor combine_features(const Tensor& features, CombineImages mode);

// n rows from rows [m, ...]: the first n, or the last row repeated (ComfyUI's tensor_to_size:
// one negative image for several references).
Tensor repeat_rows_to(const Tensor& rows, int64_t n);

}  // namespace ipa
