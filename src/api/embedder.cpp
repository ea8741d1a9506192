// ipa::ImageEmbedder: an adapter and its encoder without a base model (`ipadapter embed`).
#include "ipadapter/embedder.h"

#include <mutex>

#include "adapter/image_prompt.h"
#include "api/devices.h"
#include "api/model_sources.h"
#include "models/common/load_layers.h"
#include "ops/ops.h"
#include "weights/model_folder.h"

namespace ipa {

struct ImageEmbedder::Impl {
  ComputeOptions compute;
  std::unique_ptr<ImagePromptEncoder> encoder;
  AdapterDescription description;
  mutable std::mutex mu;
};

ImageEmbedder::ImageEmbedder() : impl_(std::make_unique<Impl>()) {}
ImageEmbedder::~ImageEmbedder() = default;

namespace {
FloatArray to_float_array(const Tensor& t) {
  return {std::vector<int64_t>(t.shape().begin(), t.shape().end()), t.to_floats()};
}
}  // namespace

std::unique_ptr<ImageEmbedder> ImageEmbedder::load(const EmbedderOptions& options) {
  const Device device = open_device(options.compute.device);  // before any slow work
  const ops::ThreadScope threads(options.compute.threads);
  EmbedderOptions o = with_local_model_paths(options);
  const PrecisionChoice precision = resolve_precision_on(device, options.compute.precision);
  o.compute.precision = precision.precision;
  if (o.log) {
    o.log(std::string("precision: ") + precision_name(o.compute.precision) + " (" +
          precision.reason + ")");
  }
  std::unique_ptr<ImageEmbedder> e(new ImageEmbedder());
  e->impl_->compute = o.compute;
  auto adapter = IpAdapter::load(o.ip_adapter, o.compute.precision, device);
  const AdapterInfo& info = adapter->info();
  if (o.log) {
    o.log("adapter: " + o.ip_adapter + " (" + variant_name(info.variant) + ", " +
          (info.num_tokens ? std::to_string(*info.num_tokens) : std::string("encoder")) +
          " tokens, width " + std::to_string(info.cross_attention_dim) + ")");
  }
  std::string dir = o.image_encoder;
  if (dir.empty()) {
    dir = find_image_encoder_for(*adapter);
    if (o.log) o.log("image encoder: " + dir + " (found beside the adapter)");
  }
  // The encoder's weights on the device too (ClipVisionModel::load is the host's).
  ModelFolder folder = open_model_folder(dir, layer_dtype(o.compute.precision), o.variant);
  folder.weights.set_device(device);
  auto encoder = std::make_shared<const ClipVisionModel>(
      ClipVisionConfig::from_json(folder.config, folder.config_path), folder.weights.scope(""));
  e->impl_->encoder = std::make_unique<ImagePromptEncoder>(encoder, adapter, dir);
  AdapterDescription& d = e->impl_->description;
  d.file = o.ip_adapter;
  d.image_encoder = dir;
  d.variant = variant_name(info.variant);
  d.tokens_per_image = adapter->info().num_tokens.value_or(0);
  d.width = info.cross_attention_dim;
  return e;
}

const AdapterDescription& ImageEmbedder::adapter() const {
  return impl_->description;
}

ImagePromptEmbeddings ImageEmbedder::embed(const std::vector<image::Image>& images,
                                           ImagePrep prep) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const ops::ThreadScope threads(impl_->compute.threads);
  const ImagePromptEmbeds e = impl_->encoder->encode(
      images, prep == ImagePrep::Squash ? image::ClipResizeMode::kSquash
                                        : image::ClipResizeMode::kCenterCrop);
  return {to_float_array(e.cond), to_float_array(e.uncond), to_float_array(e.clip_feature),
          to_float_array(e.uncond_clip_feature)};
}

}  // namespace ipa
