// ipadapter.cpp public API: reference images → IP-Adapter image tokens without a base model
// (`ipadapter embed`), exactly as the reference's get_image_embeds makes them.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ipadapter/engine.h"

namespace ipa {

struct EmbedderOptions {
  std::string ip_adapter;     // released .bin or .safetensors
  std::string image_encoder;  // CLIP vision folder; empty = found beside the adapter by width
  // Both paths may be Hugging Face repo ids; `revision` and `variant` as in EngineOptions.
  std::string revision;
  std::string variant;
  ComputeOptions compute;
  LogFn log;
};

struct ImagePromptEmbeddings {
  FloatArray cond;                 // [N images, tokens, width]
  FloatArray uncond;               // the unconditional tokens, same shape
  FloatArray clip_feature;         // the encoder output the projection read, [N, P] or [N, L, E]
  FloatArray uncond_clip_feature;  // zeros (basic) or the encoder on all-zero pixels
};

// Thread safety: one embed() at a time per embedder (concurrent calls are serialised).
class ImageEmbedder {
 public:
  static std::unique_ptr<ImageEmbedder> load(const EmbedderOptions& options);
  ~ImageEmbedder();
  const AdapterDescription& adapter() const;
  ImagePromptEmbeddings embed(const std::vector<image::Image>& images, ImagePrep prep) const;

 private:
  ImageEmbedder();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ipa
