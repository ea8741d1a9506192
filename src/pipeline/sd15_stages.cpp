// Stable Diffusion 1.5-family stages, as diffusers' StableDiffusionPipeline.encode_prompt:
// one CLIP text encoder; the prompt's last_hidden_state (or, with clip_skip, the final layer
// norm of hidden_states[-(clip_skip + 1)]); the negative prompt ("" when none is given)
// always through the whole encoder — diffusers applies clip_skip to the prompt only.
#include <optional>

#include "models/clip_text.h"
#include "models/common/load_layers.h"
#include "pipeline/family_stages.h"
#include "pipeline/text_encoding.h"
#include "weights/model_folder.h"

namespace ipa {

namespace {

class Sd15Stages final : public FamilyStages {
 public:
  Sd15Stages(const BaseModel& base, Precision precision, const LogFn& log)
      : tokenizer_(open_tokenizer(base.tokenizer_dirs.at(0), {}, log)),
        folder_(open_base_text_encoder(base, 0, layer_dtype(precision))),
        config_(ClipTextConfig::from_json(folder_.config, folder_.config_path)) {
    if (log) log("text encoder: " + folder_.dir);
  }

  ModelFamily family() const override { return ModelFamily::SD15; }
  float default_cfg() const override { return 7.5f; }

  TextConditioning encode_text(const GenerateRequest& r, bool guidance,
                               const LogFn& warn) override {
    const ClipTextEncoder& encoder = text_encoder();
    TextConditioning t;
    t.cond = encoder.prompt_embeds(token_ids(tokenizer_, r.prompt, "prompt", warn), r.clip_skip);
    if (guidance) {
      const std::string negative = r.negative_prompt.value_or("");
      t.uncond = encoder.prompt_embeds(token_ids(tokenizer_, negative, "negative prompt", warn));
    }
    return t;
  }

  void load_text_encoders() override { text_encoder(); }
  void release_text_encoders() override { encoder_.reset(); }
  std::vector<WeightStore*> text_encoder_weights() override { return {&folder_.weights}; }

  AddedConditioning added_conditioning(const GenerateRequest&, const TextConditioning&, int, int,
                                       int, bool) const override {
    return {};
  }

 private:
  const ClipTextEncoder& text_encoder() {
    if (!encoder_) encoder_.emplace(config_, folder_.weights);
    return *encoder_;
  }

  ClipTokenizer tokenizer_;
  ModelFolder folder_;
  ClipTextConfig config_;
  std::optional<ClipTextEncoder> encoder_;
};

}  // namespace

std::unique_ptr<FamilyStages> open_sd15_stages(const BaseModel& base, Precision precision,
                                               const LogFn& log) {
  return std::make_unique<Sd15Stages>(base, precision, log);
}

}  // namespace ipa
