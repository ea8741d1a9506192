// The `hidden_act` names of transformers' CLIP configs (text and vision towers alike).
#pragma once
#include <string>

#include "ops/ops.h"

namespace ipa {

// transformers' ACT2FN name → our activation; unknown names throw ipa::Error naming `path`
// and the key.
ops::Activation clip_activation(const std::string& hidden_act, const std::string& path);

}  // namespace ipa
