// Names and parsing of the public API's enums; FloatArray. (The bottom layer: every layer may
// use the public value types.)
#include "ipadapter/request.h"
#include "ipadapter/types.h"

#include <algorithm>
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

constexpr std::array<std::pair<Precision, const char*>, 3> kPrecisions = {{
    {Precision::F32, "f32"},
    {Precision::BF16, "bf16"},
    {Precision::Auto, "auto"},
}};
constexpr std::array<std::pair<ModelFamily, const char*>, 2> kFamilies = {{
    {ModelFamily::SD15, "sd15"},
    {ModelFamily::SDXL, "sdxl"},
}};
// The names are those sampling::make_scheduler knows (scheduler.cpp).
constexpr std::array<std::pair<Sampler, const char*>, 14> kSamplers = {{
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
    {Sampler::LCM, "lcm"},
    {Sampler::TCD, "tcd"},
}};
// The values of the scheduler configs' timestep_spacing key.
constexpr std::array<std::pair<TimestepSpacing, const char*>, 4> kSpacings = {{
    {TimestepSpacing::Default, "default"},
    {TimestepSpacing::Leading, "leading"},
    {TimestepSpacing::Trailing, "trailing"},
    {TimestepSpacing::Linspace, "linspace"},
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

constexpr std::array<std::pair<LayerPreset, const char*>, 17> kPresets = {{
    {LayerPreset::None, "none"},
    {LayerPreset::Style, "style"},
    {LayerPreset::Composition, "composition"},
    {LayerPreset::StyleAndComposition, "style_and_composition"},
    {LayerPreset::Linear, "linear"},
    {LayerPreset::EaseIn, "ease in"},
    {LayerPreset::EaseOut, "ease out"},
    {LayerPreset::EaseInOut, "ease in-out"},
    {LayerPreset::ReverseInOut, "reverse in-out"},
    {LayerPreset::WeakInput, "weak input"},
    {LayerPreset::WeakOutput, "weak output"},
    {LayerPreset::WeakMiddle, "weak middle"},
    {LayerPreset::StrongMiddle, "strong middle"},
    {LayerPreset::StyleTransfer, "style transfer"},
    {LayerPreset::StrongStyleTransfer, "strong style transfer"},
    {LayerPreset::StyleAndCompositionComfy, "style and composition"},
    // ComfyUI's "composition" is InstantStyle's composition: the same entry.
    {LayerPreset::Composition, "composition"},
}};
constexpr std::array<std::pair<CombineImages, const char*>, 5> kCombines = {{
    {CombineImages::Concat, "concat"},
    {CombineImages::Add, "add"},
    {CombineImages::Subtract, "subtract"},
    {CombineImages::Average, "average"},
    {CombineImages::NormAverage, "norm_average"},
}};
constexpr std::array<std::pair<EmbedsScaling, const char*>, 4> kScalings = {{
    {EmbedsScaling::VOnly, "V only"},
    {EmbedsScaling::KV, "K+V"},
    {EmbedsScaling::KVPenalty, "K+V w/ C penalty"},
    {EmbedsScaling::KMeanVPenalty, "K+mean(V) w/ C penalty"},
}};

}  // namespace

const char* layer_preset_name(LayerPreset p) {
  return name_of(kPresets, p);
}
std::optional<LayerPreset> parse_layer_preset(std::string_view name) {
  return parse_of(kPresets, name);
}
std::vector<std::string> layer_preset_names() {
  std::vector<std::string> out;
  for (const auto& [v, name] : kPresets) {
    if (v != LayerPreset::None && std::find(out.begin(), out.end(), name) == out.end()) {
      out.emplace_back(name);
    }
  }
  return out;
}
const char* combine_name(CombineImages c) {
  return name_of(kCombines, c);
}
std::optional<CombineImages> parse_combine(std::string_view name) {
  if (name == "norm average") return CombineImages::NormAverage;  // ComfyUI's spelling
  return parse_of(kCombines, name);
}
const char* embeds_scaling_name(EmbedsScaling e) {
  return name_of(kScalings, e);
}
std::optional<EmbedsScaling> parse_embeds_scaling(std::string_view name) {
  return parse_of(kScalings, name);
}

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
const char* timestep_spacing_name(TimestepSpacing t) {
  return name_of(kSpacings, t);
}
std::optional<TimestepSpacing> parse_timestep_spacing(std::string_view name) {
  // A1111 / ComfyUI's name for the schedule SDXL-Lightning and Hyper-SD recommend; diffusers'
  // model cards give trailing for it.
  if (name == "sgm_uniform") return TimestepSpacing::Trailing;
  return parse_of(kSpacings, name);
}
std::vector<std::string> timestep_spacing_names() {
  std::vector<std::string> out;
  for (const auto& [v, name] : kSpacings) out.emplace_back(name);
  out.emplace_back("sgm_uniform");
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
