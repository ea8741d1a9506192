#include "models/clip_activation.h"

#include "base/error.h"

namespace ipa {

ops::Activation clip_activation(const std::string& hidden_act, const std::string& path) {
  if (hidden_act == "gelu") return ops::Activation::GELU;  // exact erf (ViT-H, ViT-bigG)
  if (hidden_act == "quick_gelu") return ops::Activation::QuickGELU;
  if (hidden_act == "gelu_new" || hidden_act == "gelu_pytorch_tanh") {
    return ops::Activation::GELUTanh;
  }
  if (hidden_act == "silu" || hidden_act == "swish") return ops::Activation::SiLU;
  throw Error("config key 'hidden_act': unsupported activation '" + hidden_act +
                  "' (supported: gelu, quick_gelu, gelu_new, gelu_pytorch_tanh, silu)",
              path);
}

}  // namespace ipa
