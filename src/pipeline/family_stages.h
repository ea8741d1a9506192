// The stages that differ between model families: text conditioning (one CLIP text encoder for
// SD1.5; two for SDXL, with pooled embeddings) and the UNet's added conditioning (SDXL's
// pooled text and size ids). The denoising loop, the image prompt and decoding are shared.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ipadapter/request.h"
#include "pipeline/base_model.h"
#include "tensor/tensor.h"
#include "weights/weight_store.h"

namespace ipa {

using LogFn = std::function<void(const std::string&)>;

// One prompt pair's text conditioning, not yet batched for guidance ([1, ...] each).
struct TextConditioning {
  Tensor cond, uncond;                // [1, L, C]; uncond undefined without guidance
  Tensor pooled_cond, pooled_uncond;  // SDXL: [1, P]; else undefined
};

// UNet inputs that depend on the family and stay the same through the steps, batched as the
// UNet sees them (guidance_batch.h).
struct AddedConditioning {
  Tensor text_embeds;  // SDXL: [B, P]
  Tensor time_ids;     // SDXL: [B, 6]
};

class FamilyStages {
 public:
  virtual ~FamilyStages() = default;
  virtual ModelFamily family() const = 0;
  // diffusers' default guidance_scale for the family.
  virtual float default_cfg() const = 0;

  // Text encoders are loaded by load_text_encoders() or on first use, and kept until released
  // (one-shot engines release them after encoding).
  virtual void load_text_encoders() = 0;
  virtual TextConditioning encode_text(const GenerateRequest& request, bool guidance,
                                       const LogFn& warn) = 0;
  virtual void release_text_encoders() = 0;
  // The text encoders' weight stores, in order (for LoRA updates, added before they load).
  virtual std::vector<WeightStore*> text_encoder_weights() = 0;

  // SDXL's add_text_embeds / add_time_ids for an output of width × height, batched for
  // num_images (and guidance); nothing for SD1.5.
  virtual AddedConditioning added_conditioning(const GenerateRequest& request,
                                               const TextConditioning& text, int width, int height,
                                               int num_images, bool guidance) const = 0;
};

// Open the family's text encoders (configs read, weights files opened and checked; the
// weights are converted on first use).
std::unique_ptr<FamilyStages> open_sd15_stages(const BaseModel& base, Precision precision,
                                               const LogFn& log);
std::unique_ptr<FamilyStages> open_sdxl_stages(const BaseModel& base, Precision precision,
                                               const LogFn& log);

}  // namespace ipa
