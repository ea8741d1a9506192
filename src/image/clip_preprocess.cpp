#include "image/clip_preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>

#include "base/error.h"
#include "formats/json_file.h"

namespace ipa::image {
namespace {

int size_value(const nlohmann::json& v, const std::string& what, const std::string& path) {
  if (!v.is_number_integer() && !v.is_number_unsigned())
    throw Error("config key '" + what + "' must be an integer (got " + v.dump() + ")", path);
  const int64_t n = v.get<int64_t>();
  if (n <= 0 || n > kMaxImageSide)
    throw Error("config key '" + what + "' is out of range (" + std::to_string(n) + ")", path);
  return static_cast<int>(n);
}

struct SizeSpec {
  int shortest_edge = 0;      // > 0: keep aspect ratio
  int height = 0, width = 0;  // > 0: exact size
};

// transformers' get_size_dict: an int means a square (default_to_square) or the shortest edge,
// a list means (height, width), a dict is taken as written.
SizeSpec parse_size(const nlohmann::json& v, const std::string& key, bool default_to_square,
                    const std::string& path) {
  SizeSpec s;
  if (v.is_number()) {
    const int n = size_value(v, key, path);
    if (default_to_square) {
      s.height = s.width = n;
    } else {
      s.shortest_edge = n;
    }
  } else if (v.is_array()) {
    if (v.size() != 2) throw Error("config key '" + key + "' must list [height, width]", path);
    s.height = size_value(v[0], key + "[0]", path);
    s.width = size_value(v[1], key + "[1]", path);
  } else if (v.is_object()) {
    if (v.contains("shortest_edge") && !default_to_square) {
      s.shortest_edge = size_value(v["shortest_edge"], key + ".shortest_edge", path);
    } else if (v.contains("height") && v.contains("width")) {
      s.height = size_value(v["height"], key + ".height", path);
      s.width = size_value(v["width"], key + ".width", path);
    } else {
      throw Error("config key '" + key + "' must contain " +
                      (default_to_square ? std::string("'height' and 'width'")
                                         : std::string("'shortest_edge' or 'height' and 'width'")) +
                      " (got " + v.dump() + ")",
                  path);
    }
  } else {
    throw Error("config key '" + key + "' has an unexpected type (" + v.dump() + ")", path);
  }
  return s;
}

std::array<double, 3> parse_triple(const nlohmann::json& v, const std::string& key,
                                   const std::string& path) {
  std::array<double, 3> out{};
  if (v.is_number()) {
    out.fill(v.get<double>());
  } else if (v.is_array() && v.size() == 3 &&
             std::all_of(v.begin(), v.end(), [](const auto& e) { return e.is_number(); })) {
    for (int c = 0; c < 3; ++c) out[c] = v[c].get<double>();
  } else {
    throw Error(
        "config key '" + key + "' must be a number or a list of 3 numbers (got " + v.dump() + ")",
        path);
  }
  return out;
}

// Shortest-edge output size, (height, width), as transformers' get_resize_output_image_size
// computes it: the long side is int(size * long / short) with Python's true division.
std::pair<int64_t, int64_t> shortest_edge_size(int height, int width, int size) {
  const bool portrait = width <= height;
  const int64_t short_side = portrait ? width : height;
  const int64_t long_side = portrait ? height : width;
  const auto new_long =
      static_cast<int64_t>(double(int64_t(size) * long_side) / double(short_side));
  return portrait ? std::pair{new_long, int64_t(size)} : std::pair{int64_t(size), new_long};
}

// transformers' center_crop: the crop window starts at (size - crop) // 2; where the image is
// smaller than the crop it is zero-padded, placed at ceil((crop - size) / 2).
Image center_crop(const Image& img, int crop_height, int crop_width) {
  if (img.height == crop_height && img.width == crop_width) return img;
  Image out(crop_width, crop_height);  // zero-filled
  auto place = [](int size, int crop, int* src0, int* dst0, int* n) {
    if (size >= crop) {
      *src0 = (size - crop) / 2;
      *dst0 = 0;
      *n = crop;
    } else {
      *src0 = 0;
      *dst0 = (crop - size + 1) / 2;
      *n = size;
    }
  };
  int sy, dy, ny, sx, dx, nx;
  place(img.height, crop_height, &sy, &dy, &ny);
  place(img.width, crop_width, &sx, &dx, &nx);
  for (int y = 0; y < ny; ++y)
    std::memcpy(out.pixel(dx, dy + y), img.pixel(sx, sy + y), size_t(nx) * 3);
  return out;
}

}  // namespace

ClipPreprocessConfig ClipPreprocessConfig::from_json(const nlohmann::json& j,
                                                     const std::string& path) {
  if (!j.is_object()) throw Error("image processor config must be a JSON object", path);
  ClipPreprocessConfig c;
  c.do_resize = json_value<bool>(j, "do_resize", c.do_resize, path);
  if (j.contains("size") && !j["size"].is_null()) {
    const SizeSpec s = parse_size(j["size"], "size", /*default_to_square=*/false, path);
    c.shortest_edge = s.shortest_edge;
    c.resize_height = s.height;
    c.resize_width = s.width;
  }
  // Kosmos-2 era configs: a square resize to the shortest edge.
  if (json_value<bool>(j, "use_square_size", false, path) && c.shortest_edge > 0) {
    c.resize_height = c.resize_width = c.shortest_edge;
    c.shortest_edge = 0;
  }
  if (j.contains("resample") && !j["resample"].is_null()) {
    const nlohmann::json& r = j["resample"];
    if (!r.is_number_integer() || r.get<int64_t>() < 1 || r.get<int64_t>() > 5)
      throw Error(
          "config key 'resample' must be a PIL filter number 1..5 (1 lanczos, 2 bilinear, "
          "3 bicubic, 4 box, 5 hamming; 0 nearest is not supported), got " +
              r.dump(),
          path);
    c.resample = resample_filter_from_pil(r.get<int>());
  }
  c.do_center_crop = json_value<bool>(j, "do_center_crop", c.do_center_crop, path);
  if (j.contains("crop_size") && !j["crop_size"].is_null()) {
    const SizeSpec s = parse_size(j["crop_size"], "crop_size", /*default_to_square=*/true, path);
    c.crop_height = s.height;
    c.crop_width = s.width;
  }
  c.do_rescale = json_value<bool>(j, "do_rescale", c.do_rescale, path);
  c.rescale_factor = json_value<double>(j, "rescale_factor", c.rescale_factor, path);
  c.do_normalize = json_value<bool>(j, "do_normalize", c.do_normalize, path);
  if (j.contains("image_mean") && !j["image_mean"].is_null())
    c.image_mean = parse_triple(j["image_mean"], "image_mean", path);
  if (j.contains("image_std") && !j["image_std"].is_null())
    c.image_std = parse_triple(j["image_std"], "image_std", path);
  for (double s : c.image_std)
    if (!(s != 0.0) || !std::isfinite(s))
      throw Error("config key 'image_std' has a zero or non-finite entry", path);
  return c;
}

ClipPreprocessConfig ClipPreprocessConfig::load(const std::string& preprocessor_config_path) {
  return from_json(read_json_file(preprocessor_config_path), preprocessor_config_path);
}

ClipPreprocessConfig ClipPreprocessConfig::for_image_size(int image_size) {
  if (image_size <= 0 || image_size > kMaxImageSide)
    throw Error("CLIP image size out of range: " + std::to_string(image_size));
  ClipPreprocessConfig c;
  c.shortest_edge = image_size;
  c.crop_height = c.crop_width = image_size;
  return c;
}

Image clip_resize_and_crop(const Image& input, const ClipPreprocessConfig& cfg,
                           ClipResizeMode mode) {
  Image img = mode == ClipResizeMode::kSquash
                  ? pil_resize(input, cfg.crop_width, cfg.crop_height, cfg.resample)
                  : input;
  if (cfg.do_resize) {
    int64_t h = cfg.resize_height, w = cfg.resize_width;
    if (h <= 0 || w <= 0)
      std::tie(h, w) = shortest_edge_size(img.height, img.width, cfg.shortest_edge);
    check_image_dimensions(w, h, "CLIP resize output");
    img = pil_resize(img, static_cast<int>(w), static_cast<int>(h), cfg.resample);
  }
  if (cfg.do_center_crop) img = center_crop(img, cfg.crop_height, cfg.crop_width);
  return img;
}

Tensor clip_normalize(const Image& img, const ClipPreprocessConfig& cfg) {
  // Every uint8 value maps to one float per channel; computing the table with transformers'
  // operation order (float64 rescale, cast, float32 normalise) makes the result exact.
  float table[3][256];
  for (int c = 0; c < 3; ++c) {
    const float mean = static_cast<float>(cfg.image_mean[c]);
    const float std = static_cast<float>(cfg.image_std[c]);
    for (int v = 0; v < 256; ++v) {
      float x = cfg.do_rescale ? static_cast<float>(double(v) * cfg.rescale_factor)
                               : static_cast<float>(v);
      if (cfg.do_normalize) x = (x - mean) / std;
      table[c][v] = x;
    }
  }
  Tensor out = Tensor::empty({3, img.height, img.width});
  float* dst = out.data<float>();
  const size_t plane = size_t(img.height) * img.width;
  const uint8_t* src = img.rgb.data();
  for (size_t i = 0; i < plane; ++i, src += 3) {
    dst[i] = table[0][src[0]];
    dst[plane + i] = table[1][src[1]];
    dst[2 * plane + i] = table[2][src[2]];
  }
  return out;
}

Tensor clip_preprocess(const Image& img, const ClipPreprocessConfig& cfg, ClipResizeMode mode) {
  return clip_normalize(clip_resize_and_crop(img, cfg, mode), cfg).unsqueeze(0);
}

Tensor clip_preprocess(const std::vector<Image>& images, const ClipPreprocessConfig& cfg,
                       ClipResizeMode mode) {
  if (images.empty()) throw Error("CLIP preprocessing: no images");
  std::vector<Tensor> each;
  each.reserve(images.size());
  for (const Image& img : images) {
    each.push_back(clip_normalize(clip_resize_and_crop(img, cfg, mode), cfg));
    if (each.back().shape() != each.front().shape())
      throw Error("CLIP preprocessing: images come out with different sizes " +
                  shape_str(each.front().shape()) + " and " + shape_str(each.back().shape()) +
                  " (enable centre crop or squash to batch them)");
  }
  const Shape& s = each.front().shape();
  Tensor out = Tensor::empty({int64_t(images.size()), s[0], s[1], s[2]});
  const size_t n = size_t(each.front().numel());
  for (size_t i = 0; i < each.size(); ++i)
    std::memcpy(out.data<float>() + i * n, each[i].data<float>(), n * sizeof(float));
  return out;
}

}  // namespace ipa::image
