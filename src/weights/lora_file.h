// A LoRA file read into its low-rank layers, in either of the two naming schemes in use:
//
//   kohya / A1111   lora_unet_<module>.lora_down.weight / .lora_up.weight / .alpha
//                   lora_te_<module> (SD1.x's one text encoder), lora_te1_ / lora_te2_ (SDXL);
//                   <module> is the module path with '_' for '.': diffusers names for SD1.5
//                   UNets (down_blocks_0_attentions_0_...), LDM names for SDXL ones
//                   (input_blocks_4_1_...), HF CLIP names for text encoders
//                   (text_model_encoder_layers_0_self_attn_q_proj).
//   diffusers/PEFT  unet.<module>.lora_A.weight / .lora_B.weight (also .lora.down/.lora.up and
//                   text encoders' .lora_linear_layer.down/.up), text_encoder[_2].<module>...;
//                   the old attention-processor files (unet.… or no prefix)
//                   <attention>.processor.to_q_lora.down.weight (→ <attention>.to_q; to_out_lora
//                   → to_out.0); an optional <module>.alpha.
//
// This file only reads and sorts the keys: which weight of which model a layer adapts is
// decided against the loaded models (pipeline/lora.h). Anything that is not one of these keys
// — another adapter type (LoHa, LoKr, DoRA, LoCon's CP mid weight), a down without its up — is
// refused here with the keys named.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "formats/tensor_file.h"

namespace ipa {

struct LoraLayer {
  // The model adapted: "unet", "text_encoder" (SD1.5's only one or SDXL's first),
  // "text_encoder_2".
  std::string model;
  // The module as the file names it: dotted (diffusers), or flattened with '_' (kohya).
  std::string module;
  bool flat = false;
  // kohya's text-encoder prefix as written ("lora_te_", "lora_te1_", "lora_te2_"), else "".
  std::string kohya_prefix;
  std::string key;  // the file's name of the layer (its keys without the suffix), for messages
  Tensor down;      // [rank, in] or [rank, in, kh, kw]
  Tensor up;        // [out, rank] or [out, rank, 1, 1]
  std::optional<float> alpha;
  int64_t rank() const { return down.shape().at(0); }
  // weight · alpha / rank (alpha defaults to the rank).
  float scale(float weight) const;
};

struct LoraFile {
  std::string path;
  std::string format;  // "kohya", "diffusers" or "kohya+diffusers"
  std::vector<LoraLayer> layers;
};

// Reads and sorts a LoRA file (safetensors, or a PyTorch .bin / .pt through the restricted
// unpickler). Throws ipa::Error naming the file and the keys it does not understand (the first
// few and the count), a layer missing its down or up half, ranks that disagree, or a file with
// no LoRA layer at all.
LoraFile read_lora_file(const std::string& path);

}  // namespace ipa
