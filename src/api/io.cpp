// The public file helpers over image/ and formats/.
#include "ipadapter/io.h"

#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "image/decode.h"
#include "image/encode_png.h"

namespace ipa {

image::Image read_image(const std::string& path) {
  return image::read_image(path);
}

image::Image decode_image(const uint8_t* data, size_t size, const std::string& name) {
  return image::decode_image(data, size, name);
}

image::Image decode_image(const uint8_t* data, size_t size, const std::string& name,
                          int64_t max_pixels) {
  image::DecodeOptions o;
  o.max_pixels = max_pixels;
  return image::decode_image(data, size, name, o);
}

std::vector<uint8_t> encode_png(const image::Image& img,
                                const std::vector<std::pair<std::string, std::string>>& text) {
  std::vector<image::PngText> chunks;
  for (const auto& [k, v] : text) chunks.push_back({k, v});
  return image::encode_png(img, chunks);
}

void write_png(const std::string& path, const image::Image& img,
               const std::vector<std::pair<std::string, std::string>>& text) {
  std::vector<image::PngText> chunks;
  for (const auto& [k, v] : text) chunks.push_back({k, v});
  image::write_png(path, img, chunks);
}

std::map<std::string, FloatArray> read_float_arrays(const std::string& path) {
  const TensorFile f = load_tensor_file(path);
  std::map<std::string, FloatArray> out;
  for (const auto& nt : f.tensors) {
    const DType dt = nt.tensor.dtype();
    if (dt != DType::F32 && dt != DType::F16 && dt != DType::BF16) continue;
    const Tensor t = nt.tensor.to(DType::F32);
    out[nt.name] = {std::vector<int64_t>(t.shape().begin(), t.shape().end()), t.to_floats()};
  }
  return out;
}

void write_float_arrays(const std::string& path,
                        const std::vector<std::pair<std::string, FloatArray>>& arrays,
                        const std::map<std::string, std::string>& metadata) {
  std::vector<NamedTensor> tensors;
  for (const auto& [name, a] : arrays) {
    if (static_cast<int64_t>(a.data.size()) != a.numel()) {
      throw Error("array '" + name + "' holds " + std::to_string(a.data.size()) +
                      " values for shape " + shape_str(a.shape),
                  path);
    }
    tensors.push_back(
        {name, Tensor::from_floats(Shape(a.shape.begin(), a.shape.end()), a.data.data())});
  }
  write_safetensors(path, tensors, metadata);
}

}  // namespace ipa
