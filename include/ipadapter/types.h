// ipadapter.cpp public API: the small value types every part of the API shares — compute
// settings, model families, the choices a request makes (sampler, image preparation, VAE
// tiling) and a plain float array for latents and embeddings.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ipa {

// Compute precision of the convolutions and linear layers. BF16 keeps their weights in bf16
// and feeds them bf16 inputs with F32 accumulation (needs a CPU with avx512_bf16 or AMX);
// attention, norms and everything else stay F32 either way. Auto: the faster of the two on
// this CPU (resolve_precision).
enum class Precision { F32, BF16, Auto };
const char* precision_name(Precision p);  // "f32", "bf16", "auto"
std::optional<Precision> parse_precision(std::string_view name);

// What Precision::Auto (or the environment) chooses on this machine, and why. The environment
// variable IPADAPTER_PRECISION (f32, bf16 or auto) replaces `Auto` when set (deployments, and
// the test suite, which pins f32). Otherwise: BF16 with AMX tiles (measured 2.5x faster than
// F32 on Sapphire Rapids); with avx512_bf16 but no AMX, whichever of a bf16 and an F32 matrix
// product of a UNet shape measures faster (once per process, ~0.1 s: bf16 was faster on AMD
// Zen 5 and slower on an Intel Xeon); F32 without bf16 instructions. Explicit F32/BF16 are
// returned as they are. Throws ipa::Error for a bad IPADAPTER_PRECISION value.
struct PrecisionChoice {
  Precision precision = Precision::F32;  // F32 or BF16
  std::string reason;
};
PrecisionChoice resolve_precision(Precision requested);

// Compute settings, given when models are loaded (not process-wide): two engines in one
// process may use different ones.
struct ComputeOptions {
  Precision precision = Precision::Auto;
  int threads = 0;  // CPU threads for this engine's work; 0 = all physical cores
  // Where the models run: "cpu", "cuda" (= "cuda:0") or "cuda:N". The weights are uploaded
  // there once at load and the activations stay there. cuda needs a build with -DIPA_CUDA=ON
  // (docs/cuda.md); loading fails at once, naming the value, when the device is unavailable.
  // On CUDA, Precision::Auto means bf16 (bf16 weights and activations, F32 accumulation).
  std::string device = "cpu";
};

// What the machine offers (for `ipadapter info` and for choosing ComputeOptions).
struct SystemInfo {
  int default_threads = 0;  // physical cores
  bool bf16 = false;        // avx512_bf16 or AMX: Precision::BF16 is available
  std::string isa;          // widest vector extension the kernels use, e.g. "avx2", "avx512"
};
SystemInfo system_info();
// The devices this build can run on, one line each: "cpu", then per CUDA GPU found its
// description (e.g. "cuda:0 NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"), or why CUDA is not
// available ("cuda: not in this build ...").
std::vector<std::string> device_descriptions();

// The Stable Diffusion families the engine runs, decided by the base model folder.
enum class ModelFamily { SD15, SDXL };
const char* family_name(ModelFamily f);  // "sd15", "sdxl"

// Samplers (diffusers schedulers with the options their usual names imply). Default = the base
// model's scheduler_config.json as it is.
enum class Sampler {
  Default,
  DDIM,
  PNDM,
  Euler,
  EulerKarras,
  EulerAncestral,
  DPMPP2M,
  DPMPP2MKarras,
  DPMPP2MSDE,
  DPMPP2MSDEKarras,
  LMS,
  LMSKarras,
  LCM,  // LCMScheduler: LCM / LCM-LoRA models (few steps, cfg 1-2)
  TCD,  // TCDScheduler: TCD / Hyper-SD LoRAs; eta is its gamma
};
// "default", "ddim", "pndm", "euler", "euler_karras", "euler_a", "dpmpp_2m", "dpmpp_2m_karras",
// "dpmpp_2m_sde", "dpmpp_2m_sde_karras", "lms", "lms_karras", "lcm", "tcd".
const char* sampler_name(Sampler s);
std::optional<Sampler> parse_sampler(std::string_view name);
std::vector<std::string> sampler_names();

// How the inference timesteps are spread over the training ones (diffusers' timestep_spacing,
// Table 2 of arXiv:2305.08891). Default = the base model's scheduler_config.json. Few-step
// distilled models (SDXL-Lightning, Hyper-SD) want Trailing; LCM and TCD have their own rule.
enum class TimestepSpacing { Default, Leading, Trailing, Linspace };
// "default", "leading", "trailing", "linspace"; parse also takes "sgm_uniform" (A1111 /
// ComfyUI's schedule for those models), which is close to but not the same as Trailing
// (docs/sampling.md has the difference).
const char* timestep_spacing_name(TimestepSpacing t);
std::optional<TimestepSpacing> parse_timestep_spacing(std::string_view name);
std::vector<std::string> timestep_spacing_names();

// How a reference image becomes the image encoder's square input.
enum class ImagePrep {
  Crop,    // CLIPImageProcessor: shortest side to the encoder size, then a centre crop
  Squash,  // resize the whole image to a square first (keeps the edges of non-square images)
};
const char* image_prep_name(ImagePrep p);  // "crop", "squash"
std::optional<ImagePrep> parse_image_prep(std::string_view name);

// VAE decoding in overlapping tiles (diffusers' enable_tiling), which bounds its memory.
enum class VaeTiling {
  Auto,  // tile large images only (docs/models.md says where the line is)
  On,    // tile whenever the image is larger than one tile
  Off,   // never tile
};
const char* vae_tiling_name(VaeTiling t);  // "auto", "on", "off"
std::optional<VaeTiling> parse_vae_tiling(std::string_view name);

// A dense float32 array in row-major order: latents, image-prompt embeddings.
struct FloatArray {
  std::vector<int64_t> shape;
  std::vector<float> data;

  bool empty() const { return data.empty(); }
  int64_t numel() const;  // product of `shape`; 0 when `shape` is empty
};

// Width and height in pixels.
struct ImageSize {
  int width = 0;
  int height = 0;
};

}  // namespace ipa
