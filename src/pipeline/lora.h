// LoRAs merged into the base model at load: every layer of every file is bound to a weight of
// the UNet or a text encoder and checked (the model exists in this family, the module exists,
// the shapes fit) before anything changes; then each layer becomes a WeightUpdate on its store,
// so the weight is merged in F32 as the model converts it (before BF16 and packing):
//   W' = W + Σ_files weight · alpha / rank · up · down.
// ControlNets and the IP-Adapters' own weights live in other stores and are never touched.
#pragma once
#include <string>
#include <vector>

#include "ipadapter/engine.h"
#include "models/unet/config.h"
#include "weights/weight_store.h"

namespace ipa {

// The weights a LoRA may adapt.
struct LoraTargets {
  ModelFamily family = ModelFamily::SD15;
  WeightStore* unet = nullptr;
  const unet::UNetConfig* unet_config = nullptr;  // its LDM names (kohya SDXL files use them)
  std::vector<WeightStore*> text_encoders;        // SD1.5: 1, SDXL: 2
};

struct MergedLora {
  LoraOptions options;
  std::string format;  // "kohya", "diffusers", "kohya+diffusers"
  size_t unet_layers = 0, text_encoder_layers = 0;
};

// Reads, binds and checks every file, then adds the updates (none for weight 0, which is the
// same as no LoRA). Throws ipa::Error naming the file and: the keys that match no weight of this
// model (the first few and the count), a layer made for the other family, a shape that does
// not fit (key, expected, actual).
std::vector<MergedLora> merge_loras(const std::vector<LoraOptions>& loras,
                                    const LoraTargets& targets);

}  // namespace ipa
