// GenerateRequest::validate (public API): every field on its own, before anything is loaded
// or run.
#include <cmath>

#include "image/image.h"
#include "ipadapter/error.h"
#include "ipadapter/request.h"

namespace ipa {

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& what) {
  throw Error(field + ": " + what);
}

void check_image(const std::string& f, const image::Image& img) {
  if (img.empty()) bad(f, "is empty");
  if (img.rgb.size() != static_cast<size_t>(img.width) * img.height * 3) {
    bad(f, "holds " + std::to_string(img.rgb.size()) + " bytes for " + std::to_string(img.width) +
               "x" + std::to_string(img.height) + " RGB pixels");
  }
  image::check_image_dimensions(img.width, img.height, f);
}

void check_images(const std::string& field, const std::vector<image::Image>& images) {
  for (size_t k = 0; k < images.size(); ++k) {
    check_image(field + "[" + std::to_string(k) + "]", images[k]);
  }
}

void check_finite(const std::string& field, const std::vector<float>& values) {
  for (float v : values) {
    if (!std::isfinite(v)) bad(field, "must be finite numbers");
  }
}

void check_array(const std::string& field, const FloatArray& a) {
  if (a.empty() && a.shape.empty()) return;
  for (int64_t d : a.shape) {
    if (d < 1) bad(field, "has a zero or negative dimension");
  }
  if (a.shape.empty() || static_cast<int64_t>(a.data.size()) != a.numel()) {
    bad(field, "holds " + std::to_string(a.data.size()) + " values for its shape's " +
                   std::to_string(a.numel()));
  }
  check_finite(field, a.data);
}

void check_size(const std::string& field, int v) {
  if (v < 0 || v % 8 != 0 || v > image::kMaxImageSide) {
    bad(field, "must be 0 (the model's default) or a positive multiple of 8 up to " +
                   std::to_string(image::kMaxImageSide) + ", got " + std::to_string(v));
  }
}

}  // namespace

void GenerateRequest::validate() const {
  check_size("width", width);
  check_size("height", height);
  if (steps < 1 || steps > 1000) bad("steps", "must be in [1, 1000], got " + std::to_string(steps));
  if (num_images < 1 || num_images > 64) {
    bad("num_images", "must be in [1, 64], got " + std::to_string(num_images));
  }
  if (cfg && (!std::isfinite(*cfg) || *cfg < 0)) bad("cfg", "must be a finite number >= 0");
  if (eta && (!std::isfinite(*eta) || *eta < 0)) bad("eta", "must be a finite number >= 0");
  if (clip_skip < 0 || clip_skip > 64) {
    bad("clip_skip", "must be in [0, 64], got " + std::to_string(clip_skip));
  }
  for (size_t i = 0; i < image_prompts.size(); ++i) {
    const std::string field = "image_prompts[" + std::to_string(i) + "]";
    const ImagePrompt& p = image_prompts[i];
    if (!std::isfinite(p.scale)) bad(field + ".scale", "must be a finite number");
    if (p.images.empty() && p.clip_feature.empty()) {
      bad(field + ".images", "give at least one reference image (--image), or image_embeds");
    }
    check_images(field + ".images", p.images);
    check_images(field + ".negative_images", p.negative_images);
    check_images(field + ".masks", p.masks);
    check_array(field + ".image_embeds clip_feature", p.clip_feature);
    check_array(field + ".image_embeds uncond_clip_feature", p.uncond_clip_feature);
    check_finite(field + ".scale", p.image_scales);
    check_finite(field + ".image_weights", p.image_weights);
    if (p.weight_composition && !std::isfinite(*p.weight_composition)) {
      bad(field + ".weight_composition", "must be a finite number");
    }
    if (p.block_scales) {
      for (const auto* part : {&p.block_scales->down, &p.block_scales->up}) {
        if (!*part) continue;
        if ((*part)->all) check_finite(field + ".scale", {*(*part)->all});
        for (const auto& [b, v] : (*part)->blocks) {
          if (b < 0) bad(field + ".scale", "block numbers must be >= 0");
          if (v.empty()) bad(field + ".scale", "a block needs at least one value");
          check_finite(field + ".scale", v);
        }
      }
      if (p.block_scales->mid) check_finite(field + ".scale.mid", {*p.block_scales->mid});
    }
    if (!(std::isfinite(p.start) && std::isfinite(p.end) && p.start >= 0 && p.end <= 1 &&
          p.start < p.end)) {
      bad(field + ".start/end", "must satisfy 0 <= start < end <= 1, got start " +
                                    std::to_string(p.start) + ", end " + std::to_string(p.end));
    }
  }
  for (const auto& [field, size] :
       {std::pair{"original_size", original_size}, std::pair{"target_size", target_size}}) {
    if (size && (size->width < 1 || size->height < 1 || size->width > image::kMaxImageSide ||
                 size->height > image::kMaxImageSide)) {
      bad(field, "must be positive sizes up to " + std::to_string(image::kMaxImageSide));
    }
  }
  if (crop_top < 0 || crop_left < 0 || crop_top > image::kMaxImageSide ||
      crop_left > image::kMaxImageSide) {
    bad("crop_top_left", "must be non-negative");
  }
  // img2img / inpainting
  if (init_image) check_image("init_image (--init-image)", *init_image);
  if (mask) {
    check_image("mask (--mask)", *mask);
    if (!init_image) bad("mask (--mask)", "inpainting needs the image to repaint (--init-image)");
  }
  if (strength) {
    if (!init_image)
      bad("strength (--strength)", "applies to img2img and inpainting (--init-image)");
    if (!(std::isfinite(*strength) && *strength > 0 && *strength <= 1)) {
      bad("strength (--strength)", "must be in (0, 1], got " + std::to_string(*strength));
    }
  }
  if (!(std::isfinite(mask_blur) && mask_blur >= 0 && mask_blur <= 1024)) {
    bad("mask_blur (--mask-blur)",
        "must be a radius in [0, 1024], got " + std::to_string(mask_blur));
  }
  if (padding_mask_crop < 0 || padding_mask_crop > image::kMaxImageSide) {
    bad("padding_mask_crop (--padding-mask-crop)",
        "must be in [0, " + std::to_string(image::kMaxImageSide) + "], got " +
            std::to_string(padding_mask_crop));
  }
  if (!mask && (mask_blur > 0 || padding_mask_crop > 0 || keep_unmasked)) {
    bad(mask_blur > 0           ? "mask_blur (--mask-blur)"
        : padding_mask_crop > 0 ? "padding_mask_crop (--padding-mask-crop)"
                                : "keep_unmasked (--keep-unmasked)",
        "applies to inpainting only (--mask)");
  }
  if (init_image && !init_latents.empty()) {
    bad("init_latents (--init-latents)",
        "cannot be combined with init_image: img2img and inpainting draw their noise from the "
        "seed");
  }
  // ControlNet
  for (size_t i = 0; i < controls.size(); ++i) {
    const ControlImage& c = controls[i];
    const std::string field = "controls[" + std::to_string(i) + "]";
    check_image(field + ".image (--control-image)", c.image);
    if (!std::isfinite(c.scale)) bad(field + ".scale (--control-scale)", "must be a finite number");
    if (!(std::isfinite(c.start) && std::isfinite(c.end) && c.start >= 0 && c.end <= 1 &&
          c.start < c.end)) {
      bad(field + ".start/end (--control-start/--control-end)",
          "must satisfy 0 <= start < end <= 1, got start " + std::to_string(c.start) + ", end " +
              std::to_string(c.end));
    }
  }

  if (!init_latents.empty() || !init_latents.shape.empty()) {
    if (init_latents.shape.size() != 4) bad("init_latents", "must be [N, C, H/8, W/8]");
    for (int64_t d : init_latents.shape) {
      if (d < 1) bad("init_latents", "has a zero or negative dimension");
    }
    if (static_cast<int64_t>(init_latents.data.size()) != init_latents.numel()) {
      bad("init_latents", "holds " + std::to_string(init_latents.data.size()) +
                              " values for its shape's " + std::to_string(init_latents.numel()));
    }
    for (float v : init_latents.data) {
      if (!std::isfinite(v)) bad("init_latents", "holds a value that is not finite");
    }
  }
}

}  // namespace ipa
