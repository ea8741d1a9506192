// Key names of a UNet in the original LDM layout (CompVis / Stability / lllyasviel checkpoints:
// input_blocks, middle_block, output_blocks, ...) → diffusers UNet2DConditionModel names.
//
// LDM numbers layers in flat sequences; with L_i resnets in down block i (up block i has one
// more and mirrors down block n-1-i):
//   input_blocks.0.0                     conv_in
//   input_blocks.k.0 / input_blocks.k.1  down_blocks.i.resnets.j / .attentions.j,
//                                        k = 1 + Σ_{b<i}(L_b + 1) + j
//   input_blocks.k.0.op                  down_blocks.i.downsamplers.0.conv (k just after the
//                                        block's last layer; every block but the last)
//   middle_block.0 / .1 / .2             mid_block.resnets.0 / .attentions.0 / .resnets.1
//   output_blocks.k.0 / .1               up_blocks.i.resnets.j / .attentions.j,
//                                        k = Σ_{b<i}(L_{n-1-b} + 1) + j
//   output_blocks.k.{1,2}.conv           up_blocks.i.upsamplers.0.conv on the block's last layer
//                                        (.2 when the block has attentions, else .1)
//   time_embed.0 / .2                    time_embedding.linear_1 / linear_2
//   label_emb.0.0 / .0.2                 add_embedding.linear_1 / linear_2 (SDXL text_time)
//   out.0 / out.2                        conv_norm_out / conv_out
// Inside a resnet: in_layers.0/.2 → norm1/conv1, emb_layers.1 → time_emb_proj,
// out_layers.0/.3 → norm2/conv2, skip_connection → conv_shortcut. Transformers keep their names.
// This is diffusers' single-file conversion rule with layers_per_block taken from the config
// (its scripts hard-code SD's 2). The layout is given as plain numbers so this layer does not
// depend on the models.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ipa {

struct LdmUNetLayout {
  std::vector<int> layers_per_block;  // resnets per down block (n entries)
  std::vector<bool> down_attention;   // per down block
  // Per up block in diffusers order (up_blocks.0 is the deepest); empty = no up path (the
  // encoder half a ControlNet has). Must have n entries otherwise.
  std::vector<bool> up_attention;
  bool has_mid = true;
  bool mid_attention = true;
  bool addition_embedding = false;  // label_emb.0 → add_embedding (text_time)
};

class LdmUNetNames {
 public:
  // Rules for every layer of `layout`; throws ipa::Error when the layout is inconsistent.
  explicit LdmUNetNames(const LdmUNetLayout& layout);

  // Keys starting with `ldm_prefix` (ending in '.') take `diffusers_prefix` instead; with
  // `resnet` the rest of the key is renamed as inside a resnet. For models built on the UNet
  // (ControlNet's zero convolutions, hint block). A prefix given twice is an error.
  void add(const std::string& ldm_prefix, const std::string& diffusers_prefix, bool resnet = false);

  // The diffusers name of `ldm_key` (relative to the UNet: no "model.diffusion_model."), or
  // nullopt when no rule covers it (a key this layout does not have).
  std::optional<std::string> to_diffusers(const std::string& ldm_key) const;

  // The inverse: the LDM name of a diffusers key this layout has, or nullopt (for messages
  // that name a weight the way the user's file names it).
  std::optional<std::string> to_ldm(const std::string& diffusers_key) const;

  // Every rule, LDM prefix → diffusers prefix (for tests and reports).
  std::vector<std::pair<std::string, std::string>> prefixes() const;

 private:
  struct Rule {
    std::string diffusers;
    bool resnet = false;
  };
  std::map<std::string, Rule> rules_;
};

}  // namespace ipa
