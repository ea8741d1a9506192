// Names and parsing of the public API's enums; FloatArray. (The bottom layer: every layer may
// use the public value types.)
#include "ipadapter/types.h"

#include <array>
#include <utility>

namespace ipa {

namespace {

template <typename E, size_t N>
const char* name_of(const std::array<std::pair<E, const char*>, N>& table, E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "?";
}

template <typename E, size_t N>
std::optional<E> parse_of(const std::array<std::pair<E, const char*>, N>& table,
                          std::string_view text) {
  for (const auto& [v, name] : table) {
    if (text == name) return v;
  }
  return std::nullopt;
}

constexpr std::array<std::pair<Precision, const char*>, 2> kPrecisions = {{
    {Precision::F32, "f32"},
    {Precision::BF16, "bf16"},
}};
constexpr std::array<std::pair<ModelFamily, const char*>, 2> kFamilies = {{
    {ModelFamily::SD15, "sd15"},
    {ModelFamily::SDXL, "sdxl"},
}};
// The names are those sampling::make_scheduler knows (scheduler.cpp).
constexpr std::array<std::pair<Sampler, const char*>, 12> kSamplers = {{
    {Sampler::Default, "default"},
    {Sampler::DDIM, "ddim"},
    {Sampler::PNDM, "pndm"},
    {Sampler::Euler, "euler"},
    {Sampler::EulerKarras, "euler_karras"},
    {Sampler::EulerAncestral, "euler_a"},
    {Sampler::DPMPP2M, "dpmpp_2m"},
    {Sampler::DPMPP2MKarras, "dpmpp_2m_karras"},
    {Sampler::DPMPP2MSDE, "dpmpp_2m_sde"},
    {Sampler::DPMPP2MSDEKarras, "dpmpp_2m_sde_karras"},
    {Sampler::LMS, "lms"},
    {Sampler::LMSKarras, "lms_karras"},
}};
constexpr std::array<std::pair<ImagePrep, const char*>, 2> kPreps = {{
    {ImagePrep::Crop, "crop"},
    {ImagePrep::Squash, "squash"},
}};
constexpr std::array<std::pair<VaeTiling, const char*>, 3> kTilings = {{
    {VaeTiling::Auto, "auto"},
    {VaeTiling::On, "on"},
    {VaeTiling::Off, "off"},
}};

}  // namespace

const char* precision_name(Precision p) {
  return name_of(kPrecisions, p);
}
std::optional<Precision> parse_precision(std::string_view name) {
  return parse_of(kPrecisions, name);
}
const char* family_name(ModelFamily f) {
  return name_of(kFamilies, f);
}
const char* sampler_name(Sampler s) {
  return name_of(kSamplers, s);
}
std::optional<Sampler> parse_sampler(std::string_view name) {
  return parse_of(kSamplers, name);
}
std::vector<std::string> sampler_names() {
  std::vector<std::string> out;
  for (const auto& [v, name] : kSamplers) out.emplace_back(name);
  return out;
}
const char* image_prep_name(ImagePrep p) {
  return name_of(kPreps, p);
}
std::optional<ImagePrep> parse_image_prep(std::string_view name) {
  return parse_of(kPreps, name);
}
const char* vae_tiling_name(VaeTiling t) {
  return name_of(kTilings, t);
}
std::optional<VaeTiling> parse_vae_tiling(std::string_view name) {
  return parse_of(kTilings, name);
}

int64_t FloatArray::numel() const {
  if (shape.empty()) return 0;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace ipa
