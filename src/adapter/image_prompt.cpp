#include "adapter/image_prompt.h"

#include "ops/ops.h"

namespace ipa {

ImagePromptEncoder::ImagePromptEncoder(std::shared_ptr<const ClipVisionModel> encoder,
                                       std::shared_ptr<IpAdapter> adapter,
                                       const std::string& encoder_dir)
    : encoder_(std::move(encoder)), adapter_(std::move(adapter)) {
  const ClipVisionConfig& c = encoder_->config();
  adapter_->bind_encoder(c, encoder_dir);
  // The reference builds CLIPImageProcessor() with its defaults (224 px); an encoder trained at
  // another size gets that size, as diffusers' loader does.
  preprocess_ = c.image_size == 224 ? image::ClipPreprocessConfig{}
                                    : image::ClipPreprocessConfig::for_image_size(
                                          static_cast<int>(c.image_size));
}

ImagePromptEmbeds ImagePromptEncoder::encode_pixels(const Tensor& pixel_values) const {
  ImagePromptEmbeds out;
  const int64_t n = pixel_values.size(0);
  if (adapter_->info().feature == EncoderFeature::ImageEmbeds) {
    ClipVisionRequest want;
    want.image_embeds = true;
    out.clip_feature = encoder_->forward(pixel_values, want).image_embeds;
    out.uncond_clip_feature = Tensor::zeros(out.clip_feature.shape());
  } else {
    ClipVisionRequest want;
    want.image_embeds = false;
    want.penultimate = true;
    // One encoder call for the images and their zero-pixel counterparts.
    const Tensor both = ops::concat({pixel_values, Tensor::zeros(pixel_values.shape())}, 0);
    const Tensor hidden = encoder_->forward(both, want).penultimate;
    out.clip_feature = ops::slice(hidden, 0, 0, n);
    out.uncond_clip_feature = ops::slice(hidden, 0, n, 2 * n);
  }
  const Tensor tokens = adapter_->project(ops::concat({out.clip_feature, out.uncond_clip_feature}, 0));
  out.cond = ops::slice(tokens, 0, 0, n);
  out.uncond = ops::slice(tokens, 0, n, 2 * n);
  return out;
}

ImagePromptEmbeds ImagePromptEncoder::encode(const std::vector<image::Image>& images,
                                             image::ClipResizeMode mode) const {
  if (images.empty()) throw Error("no reference image given");
  return encode_pixels(image::clip_preprocess(images, preprocess_, mode));
}

Tensor concat_image_tokens(const Tensor& per_image_tokens) {
  if (per_image_tokens.dim() != 3) {
    throw Error("image tokens must be [N, T, C], got " + shape_str(per_image_tokens.shape()));
  }
  return per_image_tokens.reshape({1, -1, per_image_tokens.size(2)});
}

}  // namespace ipa
