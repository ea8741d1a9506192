// CLIP image preprocessing identical to transformers' CLIPImageProcessor (4.41) as the
// IP-Adapter reference uses it: RGB uint8 -> resize (shortest edge, PIL resampling on uint8)
// -> centre crop (zero padding when too small) -> rescale (uint8 * factor in float64, cast to
// float32) -> normalise ((x - mean) / std in float32) -> NCHW float32.
#pragma once
#include <array>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "image/image.h"
#include "image/pil_resize.h"
#include "tensor/tensor.h"

namespace ipa::image {

struct ClipPreprocessConfig {
  bool do_resize = true;
  // transformers' `size`: {"shortest_edge": n} resizes the shorter side to n keeping the aspect
  // ratio (long side = int(n * long / short)); {"height": h, "width": w} resizes to exactly h x w.
  int shortest_edge = 224;
  int resize_height = 0, resize_width = 0;  // both > 0: fixed-size resize instead
  ResampleFilter resample = ResampleFilter::kBicubic;
  bool do_center_crop = true;
  int crop_height = 224, crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> image_mean{0.48145466, 0.4578275, 0.40821073};  // OPENAI_CLIP_MEAN
  std::array<double, 3> image_std{0.26862954, 0.26130258, 0.27577711};  // OPENAI_CLIP_STD

  // A `preprocessor_config.json` (or the processor dict) applied over CLIPImageProcessor's
  // defaults; understands both the old (`"size": 224`, `"crop_size": 224`) and the new (dict)
  // spellings. Throws ipa::Error naming `path` for values it cannot honour.
  static ClipPreprocessConfig from_json(const nlohmann::json& j, const std::string& path);
  static ClipPreprocessConfig load(const std::string& preprocessor_config_path);
  // What diffusers' load_ip_adapter builds when the pipeline has no feature extractor:
  // CLIPImageProcessor(size=image_size, crop_size=image_size), image_size from the encoder config.
  static ClipPreprocessConfig for_image_size(int image_size);
};

enum class ClipResizeMode {
  // CLIPImageProcessor as is: shortest edge, then centre crop.
  kCenterCrop,
  // First squash the whole image to crop_size (PIL resize with the configured filter, aspect
  // ratio not kept), then run CLIPImageProcessor; what the IP-Adapter authors recommend for
  // non-square references (`image.resize((224, 224))` before the processor).
  kSquash,
};

// The uint8 image right before rescaling: resized and centre-cropped (or squashed).
Image clip_resize_and_crop(const Image& img, const ClipPreprocessConfig& cfg,
                           ClipResizeMode mode = ClipResizeMode::kCenterCrop);

// Rescale + normalise an already sized image into F32 [3, H, W].
Tensor clip_normalize(const Image& img, const ClipPreprocessConfig& cfg);

// pixel_values F32 [1, 3, H, W] for one image.
Tensor clip_preprocess(const Image& img, const ClipPreprocessConfig& cfg,
                       ClipResizeMode mode = ClipResizeMode::kCenterCrop);
// pixel_values F32 [N, 3, H, W]; every image must come out the same size (it does whenever
// centre crop or squash is on).
Tensor clip_preprocess(const std::vector<Image>& images, const ClipPreprocessConfig& cfg,
                       ClipResizeMode mode = ClipResizeMode::kCenterCrop);

}  // namespace ipa::image
