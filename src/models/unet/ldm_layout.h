// The block structure of a UNet config as the LDM key-name converter needs it
// (weights/ldm_unet_names.h), for single-file checkpoints in the original layout.
#pragma once
#include "models/unet/config.h"
#include "weights/ldm_unet_names.h"

namespace ipa::unet {

// With `up_path` false only conv_in, the time/add embeddings, the down blocks and the mid
// block are described (the half of the UNet a ControlNet copies).
LdmUNetLayout ldm_unet_layout(const UNetConfig& config, bool up_path = true);

}  // namespace ipa::unet
