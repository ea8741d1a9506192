// SDXL stages, as diffusers' StableDiffusionXLPipeline (encode_prompt, _get_add_time_ids):
// - two tokenizers (tokenizer_2 pads with "!") and two text encoders; the prompt embedding is
//   cat(hidden_states[-(clip_skip + 2)] of each, dim -1) — no final layer norm — and the
//   pooled embedding is text_encoder_2's text_embeds (its projection);
// - prompt_2 / negative_prompt_2 default to prompt / negative_prompt (also when empty);
// - no negative prompt + force_zeros_for_empty_prompt: zero negative embeddings and pooled;
//   otherwise the negative prompt ("" when none) through both encoders at hidden_states[-2]
//   (diffusers ignores clip_skip for the negative side);
// - add_time_ids = [orig_h, orig_w, crop_top, crop_left, target_h, target_w], the same for
//   both halves of the guidance batch, checked against the UNet's add_embedding width.
#include <optional>

#include "models/clip_text.h"
#include "models/common/load_layers.h"
#include "ops/ops.h"
#include "pipeline/family_stages.h"
#include "pipeline/guidance_batch.h"
#include "pipeline/text_encoding.h"
#include "weights/model_folder.h"

namespace ipa {

namespace {

constexpr int kTimeIds = 6;  // original size (2), crop corner (2), target size (2)

class SdxlStages final : public FamilyStages {
 public:
  SdxlStages(const BaseModel& base, Precision precision, const LogFn& log)
      : tokenizer_(open_tokenizer(base.tokenizer_dirs.at(0), {}, log)),
        tokenizer_2_(open_tokenizer(base.tokenizer_dirs.at(1),
                                    ClipTokenizerConfig::sdxl_tokenizer_2(), log)),
        force_zeros_(base.force_zeros_for_empty_prompt) {
    for (int i = 0; i < 2; ++i) {
      folders_[i] = open_base_text_encoder(base, static_cast<size_t>(i), layer_dtype(precision));
      configs_[i] = ClipTextConfig::from_json(folders_[i].config, folders_[i].config_path);
      if (log) log("text encoder " + std::to_string(i + 1) + ": " + folders_[i].dir);
    }
    // text_encoder_2 must have its projection (pooled text_embeds), and the UNet's
    // add_embedding must take pooled + 6 sinusoidal time ids.
    const std::string proj = "text_projection.weight";
    if (!folders_[1].weights.has(proj)) {
      throw Error("SDXL's second text encoder must be a CLIPTextModelWithProjection (no '" + proj +
                      "' tensor)",
                  folders_[1].weights_path);
    }
    const Shape ps = folders_[1].weights.shape_of(proj);
    projection_dim_ = ps.size() == 2 ? ps[0] : 0;
    const unet::UNetConfig& u = base.unet_config;
    const int64_t passed = u.addition_time_embed_dim * kTimeIds + projection_dim_;
    if (passed != u.projection_class_embeddings_input_dim) {
      throw Error("the UNet expects an added time embedding of " +
                      std::to_string(u.projection_class_embeddings_input_dim) +
                      " features (projection_class_embeddings_input_dim), but " +
                      std::to_string(kTimeIds) + " time ids × addition_time_embed_dim " +
                      std::to_string(u.addition_time_embed_dim) +
                      " + text_encoder_2's projection " + std::to_string(projection_dim_) +
                      " give " + std::to_string(passed),
                  u.source);
    }
  }

  ModelFamily family() const override { return ModelFamily::SDXL; }
  float default_cfg() const override { return 5.0f; }

  TextConditioning encode_text(const GenerateRequest& r, bool guidance,
                               const LogFn& warn) override {
    const std::string prompt_2 = r.prompt_2 && !r.prompt_2->empty() ? *r.prompt_2 : r.prompt;
    TextConditioning t;
    encode_pair(r.prompt, prompt_2, r.clip_skip, "prompt", warn, &t.cond, &t.pooled_cond);
    if (!guidance) return t;
    if (!r.negative_prompt && force_zeros_) {
      t.uncond = Tensor::zeros_on(t.cond.device(), t.cond.shape());
      t.pooled_uncond = Tensor::zeros_on(t.pooled_cond.device(), t.pooled_cond.shape());
      return t;
    }
    const std::string negative = r.negative_prompt.value_or("");
    const std::string negative_2 =
        r.negative_prompt_2 && !r.negative_prompt_2->empty() ? *r.negative_prompt_2 : negative;
    encode_pair(negative, negative_2, 0, "negative prompt", warn, &t.uncond, &t.pooled_uncond);
    return t;
  }

  void load_text_encoders() override {
    encoder(0);
    encoder(1);
  }
  void release_text_encoders() override {
    encoders_[0].reset();
    encoders_[1].reset();
  }
  std::vector<WeightStore*> text_encoder_weights() override {
    return {&folders_[0].weights, &folders_[1].weights};
  }

  AddedConditioning added_conditioning(const GenerateRequest& r, const TextConditioning& text,
                                       int width, int height, int num_images,
                                       bool guidance) const override {
    const ImageSize original = r.original_size.value_or(ImageSize{width, height});
    const ImageSize target = r.target_size.value_or(ImageSize{width, height});
    const Tensor ids = Tensor::from_vector(
        {1, kTimeIds}, {static_cast<float>(original.height), static_cast<float>(original.width),
                        static_cast<float>(r.crop_top), static_cast<float>(r.crop_left),
                        static_cast<float>(target.height), static_cast<float>(target.width)});
    AddedConditioning a;
    a.text_embeds = guidance_batch(text.pooled_cond, text.pooled_uncond, num_images, guidance);
    a.time_ids = guidance_batch(ids, ids, num_images, guidance);
    return a;
  }

 private:
  const ClipTextEncoder& encoder(int i) {
    if (!encoders_[i]) encoders_[i].emplace(configs_[i], folders_[i].weights);
    return *encoders_[i];
  }

  // cat(hidden_states[-(clip_skip + 2)] of both encoders) and text_encoder_2's text_embeds.
  void encode_pair(const std::string& text_1, const std::string& text_2, int clip_skip,
                   const std::string& what, const LogFn& warn, Tensor* embeds, Tensor* pooled) {
    const int64_t index = -(static_cast<int64_t>(clip_skip) + 2);
    const Tensor h1 = encoder(0).hidden_state(token_ids(tokenizer_, text_1, what, warn), index);
    const ClipTextOutput out = encoder(1).forward(
        token_ids(tokenizer_2_, text_2, what + " (second text encoder)", warn), true);
    const int64_t count = static_cast<int64_t>(out.hidden_states.size());
    if (count + index < 0) {
      throw Error("clip-skip " + std::to_string(clip_skip) + " is too large: the second text " +
                  "encoder has " + std::to_string(count - 1) + " layers");
    }
    *embeds = ops::concat({h1, out.hidden_states[static_cast<size_t>(count + index)]}, 2);
    *pooled = out.text_embeds;
  }

  ClipTokenizer tokenizer_, tokenizer_2_;
  ModelFolder folders_[2];
  ClipTextConfig configs_[2];
  std::optional<ClipTextEncoder> encoders_[2];
  int64_t projection_dim_ = 0;
  bool force_zeros_ = false;
};

}  // namespace

std::unique_ptr<FamilyStages> open_sdxl_stages(const BaseModel& base, Precision precision,
                                               const LogFn& log) {
  return std::make_unique<SdxlStages>(base, precision, log);
}

}  // namespace ipa
