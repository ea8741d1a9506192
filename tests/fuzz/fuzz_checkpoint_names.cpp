// libFuzzer target: a single-file checkpoint's key names. The input is parsed as safetensors;
// the family detection and every rename rule (UNet for the SD1.5 and SDXL layouts, VAE, CLIP,
// OpenCLIP with its in-projection split and transposed projection) run on every key, and the
// renamed views are read. Hostile names and shapes must end in ipa::Error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "formats/safetensors.h"
#include "touch_tensors.h"
#include "weights/checkpoint_layout.h"
#include "weights/ldm_part_names.h"
#include "weights/ldm_unet_names.h"

namespace {

// The UNet layouts of SD1.5 (4 levels, 2 layers, no attention at the bottom) and SDXL (3
// levels, no attention at the top, label_emb).
const ipa::LdmUNetNames& unet_names(bool xl) {
  static const ipa::LdmUNetNames sd15(
      ipa::LdmUNetLayout{{2, 2, 2, 2}, {true, true, true, false}, {false, true, true, true}});
  static const ipa::LdmUNetNames sdxl(
      ipa::LdmUNetLayout{{2, 2, 2}, {false, true, true}, {true, true, false}, true, true, true});
  return xl ? sdxl : sd15;
}

void touch(const ipa::ConvertedTensors& c, ipa::TensorFile* out) {
  if (!c) return;
  for (const auto& t : *c) out->tensors.push_back(t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ipa::TensorFile f;
  try {
    f = ipa::parse_safetensors(nullptr, data, size, "fuzz.safetensors");
  } catch (const ipa::Error&) {
    return 0;
  }
  std::vector<std::string> keys;
  for (const auto& t : f.tensors) keys.push_back(t.name);
  (void)ipa::looks_like_sd_checkpoint(keys);
  bool xl = false;
  try {
    xl = ipa::detect_checkpoint_layout(keys, "fuzz.safetensors").family == ipa::ModelFamily::SDXL;
  } catch (const ipa::Error&) {
  }
  ipa::TensorFile renamed;
  for (const auto& t : f.tensors) {
    try {
      if (const auto n = unet_names(xl).to_diffusers(t.name)) (void)unet_names(xl).to_ldm(*n);
      touch(ipa::ldm_vae_tensor(t.name, t.tensor, 4), &renamed);
      touch(ipa::ldm_clip_text_tensor(t.name, t.tensor), &renamed);
      touch(ipa::open_clip_text_tensor(t.name, t.tensor), &renamed);
    } catch (const ipa::Error&) {
      // A tensor of an impossible shape for its name: refused with a message.
    }
  }
  ipa::fuzz::touch_tensors(renamed);
  return 0;
}
