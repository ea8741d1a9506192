// What an IP-Adapter checkpoint is, derived from tensor shapes only (never from file names).
#pragma once
#include <optional>
#include <string>

#include "weights/weight_store.h"

namespace ipa {

enum class AdapterVariant {
  Basic,  // ImageProjModel: linear → T tokens → LayerNorm (sd15, sd15_light, sd15_vit-G, sdxl,
          // sdxl_vit-h)
  Plus,   // Resampler (plus_sd15, plus-face_sd15, plus_sdxl_vit-h, plus-face_sdxl_vit-h)
  FullFace,  // MLPProjModel per CLIP token (full-face_sd15)
};
const char* variant_name(AdapterVariant v);  // "basic", "plus", "full-face"

// Which image-encoder output the projection consumes.
enum class EncoderFeature {
  ImageEmbeds,        // CLIPVisionModelWithProjection.image_embeds, width = projection_dim
  PenultimateHidden,  // hidden_states[-2], width = hidden_size
};

struct ResamplerShape {
  int64_t dim = 0, depth = 0, heads = 0, dim_head = 64, num_queries = 0, ff_mult = 0;
  int64_t embedding_dim = 0, output_dim = 0;
};

struct AdapterInfo {
  AdapterVariant variant = AdapterVariant::Basic;
  EncoderFeature feature = EncoderFeature::ImageEmbeds;
  // Image tokens per image; unknown (nullopt) for full-face until the encoder is known
  // (it is the encoder's token count).
  std::optional<int64_t> num_tokens;
  int64_t cross_attention_dim = 0;  // UNet cross-attention width the tokens feed
  int64_t image_embed_dim = 0;      // width of the encoder feature the projection expects
  int64_t ip_layers = 0;            // number of attn2 layers carrying to_k_ip/to_v_ip
  std::string base;                 // "sd15" (16 layers), "sdxl" (70), else "unknown"
  ResamplerShape resampler;         // Plus only
};

// `ws` holds the checkpoint under the names `image_proj.*` and `ip_adapter.*` (as read from the
// released .bin or .safetensors). Throws ipa::Error naming `path` for anything that is not a
// supported IP-Adapter (FaceID variants are recognised and refused by name).
AdapterInfo detect_adapter(const WeightStore& ws, const std::string& path);

// The projection part alone, from a scope holding the `image_proj` keys (proj.weight, latents,
// ...); ip_layers and base stay unset.
AdapterInfo detect_image_projection(const WeightScope& image_proj, const std::string& path);

// True when the names look like an IP-Adapter checkpoint at all.
bool looks_like_ip_adapter(const WeightStore& ws);

}  // namespace ipa
