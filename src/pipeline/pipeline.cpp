#include "pipeline/pipeline.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "adapter/image_prompt.h"
#include "formats/json_file.h"
#include "image/decode.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/unet/unet.h"
#include "models/vae/autoencoder_kl.h"
#include "ops/ops.h"
#include "sampling/guidance.h"
#include "sampling/scheduler.h"
#include "sampling/torch_rng.h"
#include "tensor/block_pool.h"
#include "text/clip_tokenizer.h"
#include "weights/model_folder.h"

namespace fs = std::filesystem;

namespace ipa {

struct Pipeline::Impl {
  PipelineOptions options;
  LogFn log;
  std::unique_ptr<ClipTokenizer> tokenizer;
  std::unique_ptr<ClipTextEncoder> text_encoder;
  std::unique_ptr<unet::UNet2DConditionModel> unet;  // null until needed in one-shot mode
  std::unique_ptr<vae::AutoencoderKL> vae;
  std::string scheduler_config_path;
  std::shared_ptr<IpAdapter> adapter;
  std::string image_encoder_dir;
  std::unique_ptr<ImagePromptEncoder> image_prompt;

  bool generated = false;
  unet::UNetConfig unet_config;  // known before a one-shot UNet is loaded

  void say(const std::string& s) const {
    if (log) log(s);
  }
  void load_unet();
  void attach_adapter();
};

void Pipeline::Impl::load_unet() {
  if (unet) return;
  const std::string dir = (fs::path(options.base) / "unet").string();
  unet = std::make_unique<unet::UNet2DConditionModel>(unet::UNet2DConditionModel::load_dir(dir));
  say("unet: " + dir);
  if (adapter) attach_adapter();
}

void Pipeline::Impl::attach_adapter() {
  unet->load_ip_adapter(adapter->weights().scope("ip_adapter"));
  // Reported once the UNet has taken its layers, so only what nobody reads is listed.
  const auto unused = adapter->weights().unused_keys();
  if (!unused.empty()) {
    say("ip-adapter: " + std::to_string(unused.size()) + " tensors ignored, e.g. " + unused[0]);
  }
}

Pipeline::Pipeline() : impl_(std::make_unique<Impl>()) {}
Pipeline::~Pipeline() = default;

namespace {

std::string require_dir(const std::string& base, const std::string& sub) {
  const fs::path p = fs::path(base) / sub;
  if (!fs::is_directory(p)) {
    throw Error("the base model folder has no '" + sub +
                    "/' part (expected a diffusers pipeline folder: model_index.json, unet/, vae/, "
                    "text_encoder/, tokenizer/, scheduler/)",
                base);
  }
  return p.string();
}

int64_t vae_scale_factor(const vae::AutoencoderKL& v) {
  return int64_t{1} << (v.config().block_out_channels.size() - 1);
}

// [1, ...] repeated n times along dim 0.
Tensor repeat_rows(const Tensor& t, int n) {
  if (n == 1) return t;
  return ops::concat(std::vector<Tensor>(static_cast<size_t>(n), t), 0);
}

std::string format_float(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

}  // namespace

std::unique_ptr<Pipeline> Pipeline::load(const PipelineOptions& options, const LogFn& log) {
  std::unique_ptr<Pipeline> p(new Pipeline());
  Impl& m = *p->impl_;
  m.options = options;
  m.log = log;
  if (!fs::is_directory(options.base)) throw Error("base model folder not found", options.base);

  const fs::path tok_dir = fs::path(options.base) / "tokenizer";
  if (fs::is_regular_file(tok_dir / "vocab.json")) {
    m.tokenizer = std::make_unique<ClipTokenizer>(ClipTokenizer::from_folder(tok_dir.string()));
  } else {
    m.tokenizer = std::make_unique<ClipTokenizer>(ClipTokenizer::builtin());
    m.say("tokenizer: built-in CLIP vocabulary (no tokenizer/ folder in the base model)");
  }
  m.text_encoder = std::make_unique<ClipTextEncoder>(
      ClipTextEncoder::from_folder(require_dir(options.base, "text_encoder")));
  m.say("text encoder: " + require_dir(options.base, "text_encoder"));
  // One-shot: the UNet comes after the encoders; its config and weights file are opened and
  // checked now (header only: nothing is converted), and the adapter's token width against it
  // below, so a bad file or a mismatch is not found only after the encoders ran.
  const std::string unet_dir = require_dir(options.base, "unet");
  if (options.one_shot) {
    const ModelFolder folder = open_model_folder(unet_dir);
    m.unet_config = unet::parse_unet_config(folder.config, folder.config_path);
  } else {
    m.load_unet();
    m.unet_config = m.unet->config();
  }
  m.vae = std::make_unique<vae::AutoencoderKL>(
      vae::AutoencoderKL::load(require_dir(options.base, "vae")));
  m.say("vae: " + require_dir(options.base, "vae"));
  m.scheduler_config_path =
      (fs::path(require_dir(options.base, "scheduler")) / "scheduler_config.json").string();
  if (!fs::is_regular_file(m.scheduler_config_path)) {
    throw Error("scheduler_config.json is missing", require_dir(options.base, "scheduler"));
  }

  if (!options.ip_adapter.empty()) {
    m.adapter = IpAdapter::load(options.ip_adapter);
    const AdapterInfo& info = m.adapter->info();
    if (options.one_shot && m.unet_config.cross_attention_dim != info.cross_attention_dim) {
      throw Error("the IP-Adapter's image tokens are " + std::to_string(info.cross_attention_dim) +
                      " wide but this UNet's cross-attention takes " +
                      std::to_string(m.unet_config.cross_attention_dim) +
                      " (an adapter for another base model?)",
                  options.ip_adapter);
    }
    m.image_encoder_dir =
        options.image_encoder.empty() ? find_image_encoder_for(*m.adapter) : options.image_encoder;
    auto encoder =
        std::make_shared<const ClipVisionModel>(ClipVisionModel::load(m.image_encoder_dir));
    m.image_prompt = std::make_unique<ImagePromptEncoder>(encoder, m.adapter, m.image_encoder_dir);
    m.say("ip-adapter: " + options.ip_adapter + " (" + variant_name(info.variant) + ", " +
          std::to_string(*info.num_tokens) + " tokens, " + std::to_string(info.ip_layers) +
          " IP layers)");
    m.say("image encoder: " + m.image_encoder_dir);
    if (m.unet) m.attach_adapter();
  } else if (!options.image_encoder.empty()) {
    throw Error("--image-encoder was given without --ip-adapter");
  }
  return p;
}

unet::UNet2DConditionModel& Pipeline::unet() {
  impl_->load_unet();
  return *impl_->unet;
}
const IpAdapter* Pipeline::ip_adapter() const {
  return impl_->adapter.get();
}

GenerateResult Pipeline::generate(const GenerateRequest& r, const ProgressFn& progress) {
  Impl& m = *impl_;
  if (m.options.one_shot && m.generated) {
    throw Error("this pipeline was loaded for one generation (one_shot) and has made it");
  }
  if (r.width <= 0 || r.height <= 0 || r.width % 8 != 0 || r.height % 8 != 0) {
    throw Error("width and height must be positive multiples of 8, got " + std::to_string(r.width) +
                "x" + std::to_string(r.height));
  }
  if (r.steps < 1 || r.steps > 1000) {
    throw Error("steps must be in [1, 1000], got " + std::to_string(r.steps));
  }
  if (r.num_images < 1 || r.num_images > 64) {
    throw Error("num-images must be in [1, 64], got " + std::to_string(r.num_images));
  }
  if (!std::isfinite(r.cfg) || r.cfg < 0) throw Error("cfg must be a finite number >= 0");
  if (!std::isfinite(r.ip_scale)) throw Error("the IP-Adapter scale must be a finite number");
  if (r.clip_skip < 0) throw Error("clip-skip must be >= 0");
  if (m.adapter && r.images.empty()) {
    throw Error("an IP-Adapter is loaded: give at least one reference image (--image)");
  }
  if (!m.adapter && !r.images.empty()) {
    throw Error("reference images were given but no IP-Adapter (--ip-adapter) is loaded");
  }
  vae::parse_tiling(r.vae_tiling);  // refuse a bad value before the slow part
  const int64_t factor = vae_scale_factor(*m.vae);
  if (r.width % factor != 0 || r.height % factor != 0) {
    throw Error("width and height must be multiples of the VAE's scale factor " +
                std::to_string(factor));
  }

  GenerateResult out;
  const bool cfg = r.cfg > 1.0f;  // diffusers: do_classifier_free_guidance = guidance_scale > 1
  const int batch = r.num_images;
  using clock = std::chrono::steady_clock;
  auto seconds_since = [](clock::time_point t0) {
    return std::chrono::duration<double>(clock::now() - t0).count();
  };

  // Everything that can be refused is checked before the encoders run (a one-shot pipeline
  // loads its UNet only after them).
  const Shape latent_shape = {batch, m.unet_config.in_channels, r.height / factor,
                              r.width / factor};
  if (r.init_latents.defined() && r.init_latents.shape() != latent_shape) {
    throw Error::shape_mismatch("init latents", "latents", latent_shape, r.init_latents.shape());
  }
  auto scheduler = sampling::make_scheduler_from_file(r.sampler, m.scheduler_config_path);
  scheduler->set_eta(r.eta);
  scheduler->set_timesteps(r.steps);

  // ---- text ----
  auto t0 = clock::now();
  TokenizeInfo info;
  const std::vector<int64_t> ids = m.tokenizer->encode(r.prompt, &info);
  if (info.truncated()) {
    m.say("warning: the prompt is longer than " + std::to_string(m.tokenizer->max_length()) +
          " tokens; dropped: \"" + info.dropped_text + "\"");
  }
  auto embed = [&](const std::vector<int64_t>& tok) {
    Tensor id = Tensor::empty({1, static_cast<int64_t>(tok.size())}, DType::I64);
    std::copy(tok.begin(), tok.end(), id.data<int64_t>());
    return m.text_encoder->prompt_embeds(id, r.clip_skip);
  };
  Tensor text = repeat_rows(embed(ids), batch);
  if (cfg) {
    TokenizeInfo neg_info;
    const std::vector<int64_t> neg_ids = m.tokenizer->encode(r.negative_prompt, &neg_info);
    if (neg_info.truncated()) m.say("warning: the negative prompt was truncated");
    text = ops::concat({repeat_rows(embed(neg_ids), batch), text}, 0);
  }
  out.text_encode_s = seconds_since(t0);

  // ---- image prompt ----
  Tensor ip_tokens;
  if (m.adapter) {
    t0 = clock::now();
    std::vector<image::Image> refs;
    for (const auto& path : r.images) refs.push_back(image::read_image(path));
    image::ClipResizeMode mode;
    if (r.image_prep == "crop") {
      mode = image::ClipResizeMode::kCenterCrop;
    } else if (r.image_prep == "squash") {
      mode = image::ClipResizeMode::kSquash;
    } else {
      throw Error("image prep must be 'crop' or 'squash', got '" + r.image_prep + "'");
    }
    const ImagePromptEmbeds e = m.image_prompt->encode(refs, mode);
    ip_tokens = repeat_rows(concat_image_tokens(e.cond), batch);
    if (cfg)
      ip_tokens = ops::concat({repeat_rows(concat_image_tokens(e.uncond), batch), ip_tokens}, 0);
    out.image_encode_s = seconds_since(t0);
  }
  if (m.options.one_shot) {
    m.generated = true;
    m.text_encoder.reset();
    m.image_prompt.reset();
    pool_trim();  // give the encoders' memory back before the UNet takes its own
    t0 = clock::now();
    m.load_unet();
    out.unet_load_s = seconds_since(t0);
  }
  if (m.adapter) m.unet->set_ip_scale(r.ip_scale);

  // ---- latents ----
  sampling::TorchGenerator generator(r.seed);
  Tensor latents = r.init_latents.defined() ? r.init_latents.to(DType::F32).clone()
                                            : generator.randn(latent_shape);
  latents = ops::scale(latents, scheduler->init_noise_sigma());

  // ---- denoising ----
  t0 = clock::now();
  const auto& timesteps = scheduler->timesteps();
  for (size_t i = 0; i < timesteps.size(); ++i) {
    Tensor x = cfg ? ops::concat({latents, latents}, 0) : latents;
    x = scheduler->scale_model_input(x, i);
    unet::UNetInputs in;
    in.sample = x;
    in.timestep = Tensor::from_vector({1}, {static_cast<float>(timesteps[i])});
    in.text = text;
    in.ip_tokens = ip_tokens;
    Tensor noise = m.unet->forward(in);
    if (cfg) noise = sampling::classifier_free_guidance(noise, r.cfg);
    latents = scheduler->step(noise, i, latents, &generator).prev_sample;
    if (r.keep_step_latents) out.step_latents.push_back(latents.clone());
    if (progress)
      progress(static_cast<int>(i + 1), static_cast<int>(timesteps.size()), seconds_since(t0));
  }
  out.denoise_s = seconds_since(t0);
  out.final_latents = latents;

  // ---- decode ----
  // One-shot: the UNet (and its cached activation blocks, which do not fit the VAE's sizes)
  // go before the decoder allocates its own.
  if (m.options.one_shot) {
    m.unet.reset();
    pool_trim();
  }
  t0 = clock::now();
  vae::TilingOptions tiling;
  tiling.mode = vae::parse_tiling(r.vae_tiling);
  const Tensor decoded = m.vae->decode(m.vae->to_vae_latents(latents), tiling);
  out.vae_decode_s = seconds_since(t0);
  const int64_t h = decoded.size(2), w = decoded.size(3);
  const std::vector<float> px = decoded.to_floats();
  for (int b = 0; b < batch; ++b) {
    image::Image img(static_cast<int>(w), static_cast<int>(h));
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        for (int64_t c = 0; c < 3; ++c) {
          const float v = px[static_cast<size_t>(((b * 3 + c) * h + y) * w + x)];
          // diffusers: (x / 2 + 0.5).clamp(0, 1), then numpy's round-half-even of ·255
          const float u = std::min(1.0f, std::max(0.0f, v / 2 + 0.5f));
          img.pixel(static_cast<int>(x), static_cast<int>(y))[c] =
              static_cast<uint8_t>(std::nearbyint(u * 255.0f));
        }
      }
    }
    out.images.push_back(std::move(img));
  }

  std::ostringstream params;
  params << r.prompt << "\n";
  if (!r.negative_prompt.empty()) params << "Negative prompt: " << r.negative_prompt << "\n";
  params << "Steps: " << r.steps << ", Sampler: " << scheduler->class_name()
         << ", CFG scale: " << format_float(r.cfg) << ", Seed: " << r.seed << ", Size: " << r.width
         << "x" << r.height;
  if (r.clip_skip > 0) params << ", Clip skip: " << r.clip_skip;
  if (m.adapter) {
    params << ", IP-Adapter: " << fs::path(m.options.ip_adapter).filename().string()
           << ", IP-Adapter scale: " << format_float(r.ip_scale)
           << ", IP-Adapter images: " << r.images.size();
  }
  params << ", Generator: ipadapter.cpp";
  out.parameters = params.str();
  return out;
}

}  // namespace ipa
