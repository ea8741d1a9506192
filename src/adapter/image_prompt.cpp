#include "adapter/image_prompt.h"

#include <tuple>

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
  preprocess_ = c.image_size == 224
                    ? image::ClipPreprocessConfig{}
                    : image::ClipPreprocessConfig::for_image_size(static_cast<int>(c.image_size));
}

ImagePromptEncoder::Features ImagePromptEncoder::features(const Tensor& pixel_values) const {
  Features f;
  const int64_t n = pixel_values.size(0);
  if (adapter_->info().feature == EncoderFeature::ImageEmbeds) {
    f.cond = feature(pixel_values);
    f.uncond = Tensor::zeros(f.cond.shape());
  } else {
    // One encoder call for the images and their zero-pixel counterparts.
    const Tensor hidden =
        feature(ops::concat({pixel_values, Tensor::zeros(pixel_values.shape())}, 0));
    f.cond = ops::slice(hidden, 0, 0, n);
    f.uncond = ops::slice(hidden, 0, n, 2 * n);
  }
  return f;
}

Tensor ImagePromptEncoder::feature(const Tensor& pixel_values) const {
  ClipVisionRequest want;
  if (adapter_->info().feature == EncoderFeature::ImageEmbeds) {
    want.image_embeds = true;
    return encoder_->forward(pixel_values, want).image_embeds;
  }
  want.image_embeds = false;
  want.penultimate = true;
  return encoder_->forward(pixel_values, want).penultimate;
}

Tensor ImagePromptEncoder::uncond_feature(int64_t n) const {
  const int64_t s = encoder_->config().image_size;
  if (adapter_->info().feature == EncoderFeature::ImageEmbeds) {
    return Tensor::zeros({n, encoder_->config().projection_dim});
  }
  return feature(Tensor::zeros({n, encoder_->config().num_channels, s, s}));
}

std::pair<Tensor, Tensor> ImagePromptEncoder::project(const Tensor& cond,
                                                      const Tensor& uncond) const {
  const int64_t n = cond.size(0);
  const Tensor tokens = adapter_->project(ops::concat({cond, uncond}, 0));
  return {ops::slice(tokens, 0, 0, n), ops::slice(tokens, 0, n, n + uncond.size(0))};
}

Tensor ImagePromptEncoder::pixels(const std::vector<image::Image>& images,
                                  image::ClipResizeMode mode) const {
  if (images.empty()) throw Error("no reference image given");
  return image::clip_preprocess(images, preprocess_, mode);
}

ImagePromptEmbeds ImagePromptEncoder::encode_pixels(const Tensor& pixel_values) const {
  ImagePromptEmbeds out;
  const Features f = features(pixel_values);
  out.clip_feature = f.cond;
  out.uncond_clip_feature = f.uncond;
  std::tie(out.cond, out.uncond) = project(f.cond, f.uncond);
  return out;
}

ImagePromptEmbeds ImagePromptEncoder::encode(const std::vector<image::Image>& images,
                                             image::ClipResizeMode mode) const {
  return encode_pixels(pixels(images, mode));
}

Tensor concat_image_tokens(const Tensor& per_image_tokens) {
  if (per_image_tokens.dim() != 3) {
    throw Error("image tokens must be [N, T, C], got " + shape_str(per_image_tokens.shape()));
  }
  return per_image_tokens.reshape({1, -1, per_image_tokens.size(2)});
}

}  // namespace ipa
