#include "adapter/image_prompt.h"

#include <cmath>
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
    f.uncond = Tensor::zeros_on(f.cond.device(), f.cond.shape());
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

Tensor repeat_rows_to(const Tensor& rows, int64_t n) {
  const int64_t m = rows.size(0);
  if (m == n) return rows;
  if (m > n) return ops::slice(rows, 0, 0, n);
  std::vector<Tensor> parts = {rows};
  const Tensor last = ops::slice(rows, 0, m - 1, m);
  for (int64_t i = m; i < n; ++i) parts.push_back(last);
  return ops::concat(parts, 0);
}

Tensor combine_features(const Tensor& f, CombineImages mode) {
  if (mode == CombineImages::Concat) return f;
  const int64_t n = f.size(0);
  const int64_t per = f.numel() / n;
  const std::vector<float> x = f.to_floats();
  Shape shape = f.shape();
  shape[0] = 1;
  std::vector<float> out(static_cast<size_t>(per), 0.f);
  for (int64_t j = 0; j < per; ++j) {
    double acc = 0;
    switch (mode) {
      case CombineImages::Add:
      case CombineImages::Average:
        for (int64_t i = 0; i < n; ++i) acc += x[static_cast<size_t>(i * per + j)];
        if (mode == CombineImages::Average) acc /= static_cast<double>(n);
        break;
      case CombineImages::Subtract: {
        // e_0 - mean(e_1..e_{N-1})
        double rest = 0;
        for (int64_t i = 1; i < n; ++i) rest += x[static_cast<size_t>(i * per + j)];
        acc = x[static_cast<size_t>(j)] - rest / static_cast<double>(n - 1);
        break;
      }
      case CombineImages::NormAverage: {
        // mean_i(e_i / ||E||_dim0): the L2 norm across the images, per element
        double sq = 0;
        for (int64_t i = 0; i < n; ++i) {
          const double v = x[static_cast<size_t>(i * per + j)];
          sq += v * v;
        }
        const double norm = std::sqrt(sq);
        for (int64_t i = 0; i < n; ++i) acc += x[static_cast<size_t>(i * per + j)] / norm;
        acc /= static_cast<double>(n);
        break;
      }
      case CombineImages::Concat:
        break;
    }
    out[static_cast<size_t>(j)] = static_cast<float>(acc);
  }
  return Tensor::from_vector(shape, out);
}

Tensor concat_image_tokens(const Tensor& per_image_tokens) {
  if (per_image_tokens.dim() != 3) {
    throw Error("image tokens must be [N, T, C], got " + shape_str(per_image_tokens.shape()));
  }
  return per_image_tokens.reshape({1, -1, per_image_tokens.size(2)});
}

}  // namespace ipa
