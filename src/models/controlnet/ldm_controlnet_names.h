// Key names of a ControlNet in the original layout (lllyasviel's ControlNet / ControlNet-v1-1
// files, and SDXL ControlNets saved the same way) → diffusers ControlNetModel names, as
// diffusers' convert_controlnet_checkpoint maps them: the UNet encoder names of
// weights/ldm_unet_names.h (input_blocks, middle_block, time_embed, label_emb) plus
//   zero_convs.k.0                 controlnet_down_blocks.k
//   middle_block_out.0             controlnet_mid_block
//   input_hint_block.0             controlnet_cond_embedding.conv_in
//   input_hint_block.2(m+1)        controlnet_cond_embedding.blocks.m    (SiLUs at odd indices)
//   input_hint_block.2(M+1)        controlnet_cond_embedding.conv_out    (M blocks; 14 for the
//                                  released (16, 32, 96, 256) encoder)
// diffusers 0.30.3 leaves label_emb out for ControlNets; it is mapped here (to add_embedding,
// as for the UNet) so SDXL ControlNets in this layout load too.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "models/controlnet/controlnet_config.h"
#include "weights/ldm_unet_names.h"

namespace ipa::controlnet {

// The key prefix under which ControlNet weights in the LDM layout sit in a file:
// "control_model." (a whole cldm checkpoint, or a ControlNet extracted from one) or "" (keys
// at the top: time_embed.0.weight, input_hint_block.0.weight). nullopt when the keys are not
// in this layout.
std::optional<std::string> ldm_controlnet_prefix(const std::vector<std::string>& keys);

LdmUNetNames ldm_controlnet_names(const ControlNetConfig& config);

}  // namespace ipa::controlnet
