#include "models/unet/ldm_layout.h"

namespace ipa::unet {

LdmUNetLayout ldm_unet_layout(const UNetConfig& c, bool up_path) {
  LdmUNetLayout l;
  for (const auto& b : c.down_blocks) {
    l.layers_per_block.push_back(b.num_layers);
    l.down_attention.push_back(b.has_attention);
  }
  if (up_path) {
    for (const auto& b : c.up_blocks) l.up_attention.push_back(b.has_attention);
  }
  l.has_mid = !c.mid.type.empty();
  l.mid_attention = c.mid.type == "UNetMidBlock2DCrossAttn";
  l.addition_embedding = c.text_time;
  return l;
}

}  // namespace ipa::unet
