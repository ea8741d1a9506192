#include "bench/e2e_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "adapter/ip_adapter.h"
#include "api/devices.h"
#include "base/error.h"
#include "bench/device_peak.h"
#include "bench/peak_fma.h"
#include "bench/process_memory.h"
#include "bench/random_lora.h"
#include "bench/synthetic_models.h"
#include "image/decode.h"
#include "ipadapter/engine.h"
#include "models/unet/unet.h"
#include "ops/backend.h"
#include "ops/ops.h"
#include "ops/profile.h"
#include "sampling/torch_rng.h"
#include "tensor/block_pool.h"
#include "weights/hf_cache.h"

namespace fs = std::filesystem;

namespace ipa::bench {

namespace {

using clock = std::chrono::steady_clock;
namespace prof = ops::profile;

double since(clock::time_point t0) {
  return std::chrono::duration<double>(clock::now() - t0).count();
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a.empty() ? "unknown" : a + " " + b + " " + c;
}

nlohmann::json profile_json(const std::vector<prof::OpStats>& ops, double wall_s, size_t top = 12) {
  nlohmann::json arr = nlohmann::json::array();
  double listed = 0;
  for (size_t i = 0; i < ops.size() && i < top; ++i) {
    const auto& s = ops[i];
    listed += s.seconds;
    arr.push_back({{"kind", s.kind},
                   {"calls", s.calls},
                   {"seconds", s.seconds},
                   {"share_pct", wall_s > 0 ? 100.0 * s.seconds / wall_s : 0.0},
                   {"gflop", s.flops * 1e-9},
                   {"gflops", s.seconds > 0 ? s.flops * 1e-9 / s.seconds : 0.0}});
  }
  double all = 0;
  for (const auto& s : ops) all += s.seconds;
  if (ops.size() > top) {
    arr.push_back({{"kind", "(other ops)"},
                   {"calls", 0},
                   {"seconds", all - listed},
                   {"share_pct", wall_s > 0 ? 100.0 * (all - listed) / wall_s : 0.0},
                   {"gflop", 0.0},
                   {"gflops", 0.0}});
  }
  arr.push_back({{"kind", "(outside ops)"},
                 {"calls", 0},
                 {"seconds", std::max(0.0, wall_s - all)},
                 {"share_pct", wall_s > 0 ? 100.0 * std::max(0.0, wall_s - all) / wall_s : 0.0},
                 {"gflop", 0.0},
                 {"gflops", 0.0}});
  return arr;
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double seconds_of(const std::vector<prof::OpStats>& ops, const std::string& kind) {
  for (const auto& s : ops) {
    if (s.kind == kind) return s.seconds;
  }
  return 0;
}

double flops_of(const std::vector<prof::OpStats>& ops) {
  double f = 0;
  for (const auto& s : ops) f += s.flops;
  return f;
}

// The UNet with and without image tokens on the device (same inputs as the host forwards,
// alternating, best of overhead_reps, each timed to the backend's synchronize): the IP-Adapter's
// share of a GPU step. The host forwards (which also count the FLOPs) stay as they are.
void run_device_forwards(const E2EBenchOptions& o, Device device, ops::Backend& backend,
                         const std::string& base, const std::string& adapter_file,
                         const unet::UNetInputs& host_in, bool with_tokens,
                         const unet::UNet2DConditionModel& host_unet, nlohmann::json& r) {
  if (o.log) o.log("bench: loading the UNet on " + device.name() + " for the forwards");
  const auto unet = unet::UNet2DConditionModel::load_dir(
      (std::filesystem::path(base) / "unet").string(), o.compute.precision, device);
  unet::UNetInputs in = host_in;
  in.sample = host_in.sample.to(device);
  in.timestep = host_in.timestep.to(device);
  in.text = host_in.text.to(device);
  if (host_in.text_embeds.defined()) in.text_embeds = host_in.text_embeds.to(device);
  if (host_in.time_ids.defined()) in.time_ids = host_in.time_ids.to(device);
  std::shared_ptr<IpAdapter> adapter;
  IpAttention ip;
  if (with_tokens) {
    adapter = IpAdapter::load(adapter_file, o.compute.precision, device);
    adapter->bind_unet(unet.cross_attention_layers());
    const auto& uc = host_unet.config();
    sampling::TorchGenerator g(o.seed + 2);
    ip.add(adapter->attention(),
           g.randn({2, *adapter->info().num_tokens, uc.cross_attention_dim}).to(device), 0.6f);
  }
  using clock = std::chrono::steady_clock;
  auto timed = [&](bool with_ip) {
    in.cross_attention = with_ip ? &ip : nullptr;
    const auto t0 = clock::now();
    const Tensor out = unet.forward(in);
    backend.synchronize(device);
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
  timed(with_tokens);  // warm-up: algorithm choice, plans, allocator
  double best_ip = 1e300, best_plain = 1e300;
  for (int rep = 0; rep < std::max(o.overhead_reps, 3); ++rep) {
    if (with_tokens) best_ip = std::min(best_ip, timed(true));
    best_plain = std::min(best_plain, timed(false));
  }
  r["device_unet_plain_step_s"] = best_plain;
  r["device_unet_ip_step_s"] = with_tokens ? best_ip : best_plain;
  r["device_ip_overhead_ab_pct"] = with_tokens ? 100.0 * (best_ip - best_plain) / best_plain : 0.0;
}

}  // namespace

nlohmann::json run_e2e_bench(const E2EBenchOptions& options) {
  auto say = [&](const std::string& s) {
    if (options.log) options.log(s);
  };
  if (options.steps < 1) throw Error("bench: steps must be at least 1");
  if (options.overhead_reps < 1) throw Error("bench: overhead-reps must be at least 1");
  // The bench's own work (peak probes, A/B forwards) runs with the engine's thread count.
  const Device device = open_device(options.compute.device);  // before any slow work
  // Off the host: the GPU's memory, peak and timings come from its backend (docs/cuda.md).
  ops::Backend* const backend = device.is_cpu() ? nullptr : &ops::backend(device);
  const ops::ThreadScope thread_scope(options.compute.threads);
  E2EBenchOptions o = options;
  const PrecisionChoice precision = resolve_precision_on(device, options.compute.precision);
  o.compute.precision = precision.precision;
  nlohmann::json r;
  r["device"] = device.name();
  r["precision_choice"] = precision.reason;
  r["load_avg_start"] = load_average();
  r["threads"] = ops::num_threads();
  r["compute_dtype"] = precision_name(o.compute.precision);
  r["steps"] = o.steps;

  // ---- models ----
  EngineOptions eo;
  eo.one_shot = !o.keep_models;
  eo.compute = o.compute;
  r["one_shot"] = eo.one_shot;
  std::string image = o.image;
  const bool synthetic = o.base.empty();
  r["synthetic_weights"] = synthetic;
  bool generated = false;
  std::string adapter_file, encoder_dir;
  if (synthetic) {
    if (!o.ip_adapter.empty() || !o.image_encoder.empty()) {
      throw Error("bench: --ip-adapter / --image-encoder need --base (real models)");
    }
    SyntheticModelsSpec spec;
    spec.configs_dir = o.configs_dir;
    spec.cache_dir = o.cache_dir.empty() ? default_cache_dir() : o.cache_dir;
    spec.arch = o.arch;
    spec.adapter_variant = o.adapter_variant;
    spec.controlnet = o.controlnet;
    spec.seed = o.seed;
    const SyntheticModels m = ensure_synthetic_models(spec, o.log);
    generated = m.generated;
    eo.base = m.base;
    adapter_file = m.ip_adapter;
    encoder_dir = m.image_encoder;
    if (image.empty()) image = m.reference_image;
    if (o.controlnet) eo.controlnets = {{m.controlnet, ""}};
    r["adapter_variant"] = o.adapter_variant;
  } else {
    // Repo ids made local here too: the bench opens the UNet and the adapter itself below.
    eo.base = resolve_model_source(o.base, "", "--base");
    adapter_file = resolve_model_source(o.ip_adapter, "", "--ip-adapter");
    encoder_dir = resolve_model_source(o.image_encoder, "", "--image-encoder");
    if (!o.controlnet_path.empty()) {
      eo.controlnets = {{resolve_model_source(o.controlnet_path, "", "--controlnet"), ""}};
    }
    if (image.empty() && (!adapter_file.empty() || !eo.controlnets.empty())) {
      const std::string dir = o.cache_dir.empty() ? default_cache_dir() : o.cache_dir;
      image = ensure_reference_image(dir);
    }
  }
  if (!adapter_file.empty()) eo.ip_adapters = {{adapter_file, encoder_dir}};
  if (o.lora_rank > 0) {
    const std::string dir = o.cache_dir.empty() ? default_cache_dir() : o.cache_dir;
    eo.loras = {{ensure_random_lora(eo.base, dir, o.lora_rank, o.seed, o.log), 1.f}};
  } else if (!o.lora.empty()) {
    eo.loras = {{o.lora, 1.f}};
  }
  r["lora"] = eo.loras.empty() ? std::string() : eo.loras[0].file;
  r["lora_rank"] = o.lora_rank;
  r["base"] = eo.base;
  r["ip_adapter"] = adapter_file;
  r["controlnet"] = eo.controlnets.empty() ? std::string() : eo.controlnets[0].file;

  // Memory figures cover the benchmark only, not the one-time file generation above.
  pool_trim();
  pool_reset_peak();
  const bool rss_reset = reset_peak_rss();
  r["peak_rss_reset"] = rss_reset;
  r["weights_generated_this_run"] = generated;
  r["rss_start_mb"] = current_rss_mb();
  if (backend) {
    r["device_description"] = backend->describe(device);
    backend->reset_peak_memory(device);
  }

  say("bench: measuring the FMA peak");
  const double peak_before = measure_peak_fma_gflops(ops::num_threads(), o.peak_run_s);
  const double peak_1t = measure_peak_fma_gflops(1, o.peak_run_s);

  prof::reset();
  prof::set_enabled(true);
  struct Disable {
    ~Disable() { prof::set_enabled(false); }
  } disable;

  // ---- load ----
  say("bench: loading " + eo.base);
  eo.log = [&](const std::string& s) { say("bench:   " + s); };
  auto t0 = clock::now();
  auto engine = Engine::load(eo);
  const double engine_load_s = since(t0);
  r["rss_after_load_mb"] = current_rss_mb();
  const EngineInfo& info = engine->info();
  r["arch"] = family_name(info.family);
  if (!info.adapters.empty()) r["adapter_variant"] = info.adapters[0].variant;

  // ---- one generation ----
  GenerateRequest req;
  req.prompt = "a photograph of a red fox in the snow, detailed fur";
  req.negative_prompt = "blurry";
  if (!info.adapters.empty()) req.image_prompts = {{{image::read_image(image)}, 0.6f}};
  req.steps = o.steps;
  // The model's size unless asked (a control image would otherwise set it).
  req.width = o.width > 0 ? o.width : info.default_width;
  req.height = o.height > 0 ? o.height : info.default_height;
  req.seed = o.seed;
  req.sampler = o.sampler;
  req.cfg = o.cfg;
  if (!eo.controlnets.empty()) {
    ControlImage c;
    c.image = image::read_image(image);
    req.controls = {c};
  }
  std::vector<double> step_end_s, step_end_cpu_s;
  std::vector<std::vector<prof::OpStats>> step_ops;
  prof::reset();
  const auto gen_t0 = clock::now();
  Callbacks callbacks;
  callbacks.on_step = [&](const StepProgress& p) {
    step_end_s.push_back(since(gen_t0));
    step_end_cpu_s.push_back(cpu_seconds());
    if (step_end_s.size() == 1) r["rss_after_first_step_mb"] = current_rss_mb();
    step_ops.push_back(prof::snapshot());
    char buf[96];
    const double dt = step_end_s.size() > 1 ? step_end_s.back() - step_end_s[step_end_s.size() - 2]
                                            : step_end_s.back();
    std::snprintf(buf, sizeof buf, "bench: step %d/%d  %.2f s (since start %.1f s)", p.step,
                  p.total, dt, step_end_s.back());
    say(buf);
    return true;
  };
  const GenerateResult res = engine->generate(req, callbacks);
  const double gen_s = since(gen_t0);
  const auto after_gen = prof::snapshot();
  r["sampler"] = res.sampler_class;
  r["cfg"] = res.cfg;
  r["width"] = res.width;
  r["height"] = res.height;
  r["unet_load_s"] = res.timings.unet_load_s;
  r["load_s"] = engine_load_s + res.timings.unet_load_s;  // one-shot: the UNet loads in generate()
  r["text_encode_s"] = res.timings.text_encode_s;
  r["image_encode_s"] = res.timings.image_encode_s;
  r["denoise_s"] = res.timings.denoise_s;
  r["vae_decode_s"] = res.timings.vae_decode_s;
  r["vae_load_s"] = res.timings.vae_load_s;  // one-shot: built and packed after the denoising
  r["generate_s"] = gen_s;
  // What a user of `ipadapter generate` waits for: load, encoders, every step, the decode (the
  // bench's own model files and FMA probes excluded).
  r["time_to_first_image_s"] = engine_load_s + gen_s;
  {
    bool finite = true;
    for (float v : res.final_latents.data) finite = finite && std::isfinite(v);
    r["output_finite"] = finite;
  }

  // Per UNet call: [i] = end(i) - end(i-1); the first call also holds the encoders, so its
  // time comes from denoise_s minus the later steps.
  const int calls = static_cast<int>(step_end_s.size());
  std::vector<double> step_s(calls);
  for (int i = 1; i < calls; ++i) step_s[i] = step_end_s[i] - step_end_s[i - 1];
  double later = 0;
  for (int i = 1; i < calls; ++i) later += step_s[i];
  if (calls > 0) step_s[0] = std::max(0.0, res.timings.denoise_s - later);
  r["unet_calls"] = calls;
  r["unet_steps_s"] = step_s;
  r["unet_first_step_s"] = calls > 0 ? step_s[0] : 0.0;
  // Steady state: the calls after the first (which creates oneDNN primitives and packs the
  // conv weights), else the first.
  const double steady = calls > 1 ? later / (calls - 1) : (calls ? step_s[0] : 0.0);
  r["unet_step_s"] = steady;
  r["it_per_s"] = steady > 0 ? 1.0 / steady : 0.0;  // UNet calls (CFG batch included) per second
  if (backend) {
    // Everything the generation held on the GPU at once: weights, activations, workspaces.
    r["device_peak_memory_mb"] =
        static_cast<double>(backend->peak_memory_bytes(device)) / (1024.0 * 1024.0);
  }
  nlohmann::json step_profile;
  double ip_branch_s = 0, steady_cpu = 0;
  double profiled_step_flops = 0;  // every op of a steady step (ControlNets included)
  if (calls > 1) {
    const auto d = prof::difference(step_ops.back(), step_ops.front());
    step_profile = profile_json(d, later);
    ip_branch_s = seconds_of(d, "ip_adapter_branch") / (calls - 1);
    profiled_step_flops = flops_of(d) / (calls - 1);
    steady_cpu = (step_end_cpu_s.back() - step_end_cpu_s.front()) / (calls - 1);
  }
  const auto vae_ops = prof::difference(
      after_gen, step_ops.empty() ? std::vector<prof::OpStats>{} : step_ops.back());
  r["vae_gflop"] = flops_of(vae_ops) * 1e-9;
  r["vae_gflops"] =
      res.timings.vae_decode_s > 0 ? flops_of(vae_ops) * 1e-9 / res.timings.vae_decode_s : 0.0;
  r["vae_profile"] = profile_json(vae_ops, res.timings.vae_decode_s);
  r["rss_after_generate_mb"] = current_rss_mb();

  // ---- UNet with and without image tokens (same inputs, alternating) ----
  // The headline memory figure is the generation's (load included); what follows is the
  // benchmark's own extra work, on a UNet (and adapter) it loads itself.
  r["peak_rss_mb"] = peak_rss_mb();
  r["pool_peak_mb"] = static_cast<double>(pool_stats().peak_in_use) / (1024.0 * 1024.0);
  r["pool_peak_footprint_mb"] =
      static_cast<double>(pool_stats().peak_footprint) / (1024.0 * 1024.0);
  engine.reset();
  pool_trim();
  say("bench: loading the UNet again for the forwards with and without image tokens");
  const auto unet = unet::UNet2DConditionModel::load_dir(
      (std::filesystem::path(eo.base) / "unet").string(), o.compute.precision);
  const auto& uc = unet.config();
  const Shape latent(res.final_latents.shape.begin(), res.final_latents.shape.end());
  sampling::TorchGenerator g(o.seed + 1);
  unet::UNetInputs in;
  in.sample = g.randn({2, uc.in_channels, latent[2], latent[3]});
  in.timestep = Tensor::from_vector({1}, {500.f});
  in.text = g.randn({2, 77, uc.cross_attention_dim});
  if (uc.text_time) {
    const int64_t pooled =
        uc.projection_class_embeddings_input_dim - 6 * uc.addition_time_embed_dim;
    in.text_embeds = g.randn({2, pooled});
    const float h = static_cast<float>(res.height), w = static_cast<float>(res.width);
    in.time_ids = Tensor::from_vector({2, 6}, {h, w, 0, 0, h, w, h, w, 0, 0, h, w});
  }
  std::shared_ptr<IpAdapter> adapter;
  IpAttention ip;
  if (!adapter_file.empty()) {
    adapter = IpAdapter::load(adapter_file, o.compute.precision);
    adapter->bind_unet(unet.cross_attention_layers());
    if (adapter->info().num_tokens) {
      ip.add(adapter->attention(),
             g.randn({2, *adapter->info().num_tokens, uc.cross_attention_dim}), 0.6f);
    }
  }
  const bool with_tokens = !ip.empty();
  // Planned at load as the pipeline does (conv weights packed, primitives built); the first
  // forward then still touches its activation memory for the first time (the block pool has
  // nothing cached): timed with its page faults against the next ones, and kept out of the
  // comparison.
  unet.prepare(in.sample.shape());
  say("bench: UNet first forward");
  in.cross_attention = with_tokens ? &ip : nullptr;
  {
    const long faults = minor_faults();
    const auto t = clock::now();
    unet.forward(in);
    r["ab_first_forward_s"] = since(t);
    r["ab_first_forward_minor_faults"] = minor_faults() - faults;
  }
  double best_ip = 1e300, best_plain = 1e300, flops_ip = 0, flops_plain = 0, cpu_ip = 0;
  std::vector<prof::OpStats> ip_ops;
  for (int rep = 0; rep < o.overhead_reps; ++rep) {
    for (bool with_ip : {true, false}) {
      if (with_ip && !with_tokens) continue;
      in.cross_attention = with_ip ? &ip : nullptr;
      const auto before = prof::snapshot();
      const long faults = minor_faults();
      const auto t = clock::now();
      const double c0 = cpu_seconds();
      const Tensor out = unet.forward(in);
      const double s = since(t), cpu = cpu_seconds() - c0;
      r["ab_forward_minor_faults"] = minor_faults() - faults;  // the last forward's
      const auto d = prof::difference(prof::snapshot(), before);
      char buf[96];
      std::snprintf(buf, sizeof buf, "bench: UNet forward %s image tokens: %.2f s",
                    with_ip ? "with" : "without", s);
      say(buf);
      if (with_ip) {
        if (s < best_ip) cpu_ip = cpu;
        best_ip = std::min(best_ip, s);
        flops_ip = flops_of(d);
        ip_ops = d;
      } else {
        best_plain = std::min(best_plain, s);
        flops_plain = flops_of(d);
        if (!with_tokens) ip_ops = d;
      }
    }
  }
  // What the steady steps ran, counted op by op: with ControlNets a step is more than the
  // UNet, and without CFG (cfg <= 1) the UNet runs batch 1, not the batch 2 of the forwards
  // above. Without steady steps, the dedicated forward.
  // Off the host the device's ops are not profiled: the host forwards above count the FLOPs.
  const double flops_step = profiled_step_flops > 0 && !backend
                                ? profiled_step_flops
                                : (with_tokens ? flops_ip : flops_plain);
  r["unet_gflop_per_step"] = (with_tokens ? flops_ip : flops_plain) * 1e-9;
  r["step_gflop"] = flops_step * 1e-9;
  r["unet_plain_step_s"] = best_plain;
  if (calls <= 1) {  // no steady generation steps: take the dedicated forward with IP
    const double wall = with_tokens ? best_ip : best_plain;
    step_profile = profile_json(ip_ops, wall);
    ip_branch_s = seconds_of(ip_ops, "ip_adapter_branch");
    steady_cpu = with_tokens ? cpu_ip : 0.0;
  }
  r["unet_step_profile"] = step_profile;
  if (with_tokens) {
    r["unet_ip_step_s"] = best_ip;
    // Headline: the IP branch's own time inside the timed steps (profiled), against the rest
    // of the step — not disturbed by load changes between two separate runs.
    const double base_s = (calls > 1 ? steady : best_ip) - ip_branch_s;
    r["ip_branch_s_per_step"] = ip_branch_s;
    r["ip_overhead_pct"] = base_s > 0 ? 100.0 * ip_branch_s / base_s : 0.0;
    r["ip_overhead_ab_pct"] = 100.0 * (best_ip - best_plain) / best_plain;
    r["ip_overhead_flop_pct"] = 100.0 * (flops_ip - flops_plain) / flops_plain;
  } else {
    r["unet_ip_step_s"] = nullptr;
    r["ip_branch_s_per_step"] = 0.0;
    r["ip_overhead_pct"] = 0.0;
    r["ip_overhead_ab_pct"] = 0.0;
    r["ip_overhead_flop_pct"] = 0.0;
  }

  if (backend) {
    run_device_forwards(o, device, *backend, eo.base, adapter_file, in, with_tokens, unet, r);
    r["unet_step_flop_source"] = "host forwards (batch 2 with CFG)";
    std::string why;
    const double datasheet = datasheet_bf16_tflops(r["device_description"], &why);
    say("bench: measuring the device's bf16 matrix-product peak");
    const double measured = measure_device_bf16_tflops(device, o.device_peak_size);
    const double unet_tflops = steady > 0 ? flops_step * 1e-12 / steady : 0.0;
    r["device_peak_tflops_bf16_datasheet"] = datasheet;
    r["device_peak_datasheet_source"] = why;
    r["device_peak_tflops_bf16_measured"] = measured;  // 8192³ bf16 product, best of 5
    r["unet_tflops"] = unet_tflops;
    r["unet_device_peak_fraction"] = datasheet > 0 ? unet_tflops / datasheet : 0.0;
    r["unet_device_measured_peak_fraction"] = measured > 0 ? unet_tflops / measured : 0.0;
  }

  const double peak_after = measure_peak_fma_gflops(ops::num_threads(), o.peak_run_s);
  const double peak = std::max(peak_before, peak_after);
  r["peak_gflops_before"] = peak_before;
  r["peak_gflops_after"] = peak_after;
  r["peak_gflops"] = peak;
  r["peak_isa"] = fma_isa();  // the FMA width the peak was measured with
  // bf16: the measured vdpbf16ps rate (AMX, where oneDNN uses it, can exceed it).
  const bool bf16 = o.compute.precision == Precision::BF16;
  const double peak_bf16 = measure_peak_bf16_gflops(ops::num_threads(), o.peak_run_s);
  r["peak_gflops_bf16"] = peak_bf16;
  const double peak_compute = bf16 && peak_bf16 > 0 ? peak_bf16 : peak;
  r["peak_gflops_compute"] = peak_compute;
  r["unet_gflops"] = steady > 0 ? flops_step * 1e-9 / steady : 0.0;
  // Every FLOP of the step against the peak of the compute precision...
  r["unet_peak_fraction"] =
      steady > 0 && peak_compute > 0 ? flops_step * 1e-9 / steady / peak_compute : 0.0;
  // ...and, for a mixed step, each op against the peak of the precision it runs in (in bf16,
  // convolutions, linears and the UNet's attention where it runs the bf16 kernel at the bf16
  // peak, the rest at the F32 peak): the share of the step the ops would need at their peaks.
  // Equal to the above in F32.
  double at_peak_s = 0;
  for (const auto& e : step_profile) {
    const std::string kind = e.value("kind", std::string());
    const bool low = bf16 && (kind == "linear" || kind == "conv2d" || kind == "attention_bf16");
    const double p = low ? peak_compute : peak;
    if (p > 0) at_peak_s += e.value("gflop", 0.0) / p;
  }
  const double profiled_s = calls > 1 ? later : (with_tokens ? best_ip : best_plain);
  r["unet_peak_fraction_mixed"] = profiled_s > 0 ? at_peak_s / profiled_s : 0.0;
  // Load-independent view: FLOPs per second of CPU time the process actually got, against
  // one core's peak (preempted time is not counted; OpenMP spin-waits are).
  r["peak_gflops_1thread"] = peak_1t;
  r["unet_step_cpu_s"] = steady_cpu;
  r["unet_gflop_per_cpu_s"] = steady_cpu > 0 ? flops_step * 1e-9 / steady_cpu : 0.0;
  r["unet_core_efficiency"] =
      steady_cpu > 0 && peak_1t > 0 ? flops_step * 1e-9 / steady_cpu / peak_1t : 0.0;

  const PoolStats ps = pool_stats();
  r["pool_in_use_end_mb"] = static_cast<double>(ps.bytes_in_use) / (1024.0 * 1024.0);
  r["pool_cached_end_mb"] = static_cast<double>(ps.bytes_cached) / (1024.0 * 1024.0);
  r["rss_end_mb"] = current_rss_mb();
  r["peak_rss_bench_mb"] = peak_rss_mb();  // with the A/B forwards after the generation
  r["maxrss_mb"] = maxrss_mb();
  r["load_avg_end"] = load_average();
  return r;
}

std::string format_e2e_report(const nlohmann::json& r) {
  std::ostringstream s;
  char buf[256];
  auto num = [&](const char* key) {
    return r.contains(key) && r[key].is_number() ? r[key].get<double>() : 0.0;
  };
  auto line = [&](const char* label, const std::string& value) {
    std::snprintf(buf, sizeof buf, "%-34s %s\n", label, value.c_str());
    s << buf;
  };
  auto fmt = [&](const char* f, double v) {
    char b[64];
    std::snprintf(b, sizeof b, f, v);
    return std::string(b);
  };
  line("size / steps (UNet calls)", std::to_string(r.value("width", 0)) + "x" +
                                        std::to_string(r.value("height", 0)) + ", " +
                                        std::to_string(r.value("steps", 0)) + " (" +
                                        std::to_string(r.value("unet_calls", 0)) + ")");
  line("threads / compute dtype",
       std::to_string(r.value("threads", 0)) + " / " + r.value("compute_dtype", std::string()));
  line("weights", r.value("synthetic_weights", false)
                      ? "random F16 (" + r.value("adapter_variant", std::string()) + " adapter)"
                      : r.value("base", std::string()));
  if (!r.value("controlnet", std::string()).empty()) {
    line("ControlNet (in every step below)", r.value("controlnet", std::string()));
  }
  if (!r.value("lora", std::string()).empty()) {
    const int rank = r.value("lora_rank", 0);
    line("LoRA (merged at load)", (rank > 0 ? "random rank " + std::to_string(rank) + ": " : "") +
                                      r.value("lora", std::string()));
  }
  line("load average (start / end)",
       r.value("load_avg_start", std::string()) + " / " + r.value("load_avg_end", std::string()));
  line("time to first image (load + generation)", fmt("%.2f s", num("time_to_first_image_s")));
  line("load", fmt("%.2f s", num("load_s")));
  line("image encoder", fmt("%.2f s", num("image_encode_s")));
  line("text encoder", fmt("%.2f s", num("text_encode_s")));
  line("UNet CFG step (batch 2), first", fmt("%.2f s", num("unet_first_step_s")));
  line("UNet CFG step (batch 2), steady", fmt("%.2f s", num("unet_step_s")));
  line("UNet GFLOP per step", fmt("%.4g", num("unet_gflop_per_step")));
  if (num("step_gflop") != num("unet_gflop_per_step")) {
    line("GFLOP per step with the ControlNet", fmt("%.4g", num("step_gflop")));
  }
  line("UNet achieved", fmt("%.1f GFLOP/s", num("unet_gflops")) +
                            fmt(" = %.0f %% of peak", 100 * num("unet_peak_fraction")));
  line("FMA peak (before / after)", fmt("%.1f", num("peak_gflops_before")) + " / " +
                                        fmt("%.1f GFLOP/s ", num("peak_gflops_after")) +
                                        r.value("peak_isa", std::string()));
  if (num("peak_gflops_bf16") > 0)
    line("bf16 dot-product peak", fmt("%.1f GFLOP/s", num("peak_gflops_bf16")));
  line("UNet, each op at its precision's peak",
       fmt("%.0f %% of the step", 100 * num("unet_peak_fraction_mixed")));
  line("UNet per CPU-second (1-core peak)",
       fmt("%.1f GFLOP/s", num("unet_gflop_per_cpu_s")) +
           fmt(" = %.0f %%", 100 * num("unet_core_efficiency")) +
           fmt(" of %.1f", num("peak_gflops_1thread")));
  line("VAE decode", fmt("%.2f s", num("vae_decode_s")) + fmt(" (%.1f GFLOP", num("vae_gflop")) +
                         fmt(", %.1f GFLOP/s)", num("vae_gflops")));
  line("VAE load (one-shot: after the denoising)", fmt("%.2f s", num("vae_load_s")));
  line("UNet step with / without IP",
       fmt("%.2f", num("unet_ip_step_s")) + " / " + fmt("%.2f s", num("unet_plain_step_s")));
  line("IP-Adapter overhead", fmt("%.2f %% profiled", num("ip_overhead_pct")) +
                                  fmt(", %.1f %% A/B", num("ip_overhead_ab_pct")) +
                                  fmt(", %.2f %% FLOPs", num("ip_overhead_flop_pct")));
  line("peak RSS / pool peak in use / footprint",
       fmt("%.0f MB", num("peak_rss_mb")) + " / " + fmt("%.0f", num("pool_peak_mb")) + " / " +
           fmt("%.0f MB", num("pool_peak_footprint_mb")));
  line("RSS after load / 1st step / generate",
       fmt("%.0f", num("rss_after_load_mb")) + " / " + fmt("%.0f", num("rss_after_first_step_mb")) +
           " / " + fmt("%.0f MB", num("rss_after_generate_mb")));
  line("pool at end: in use / cached",
       fmt("%.0f", num("pool_in_use_end_mb")) + " / " + fmt("%.0f MB", num("pool_cached_end_mb")));
  line("output finite", r.value("output_finite", false) ? "yes" : "NO");
  auto table = [&](const char* title, const char* key) {
    if (!r.contains(key) || !r[key].is_array()) return;
    s << "\n" << title << "\n";
    std::snprintf(buf, sizeof buf, "  %-18s %7s %9s %7s %9s\n", "op", "calls", "seconds", "share",
                  "GFLOP/s");
    s << buf;
    for (const auto& e : r[key]) {
      std::snprintf(buf, sizeof buf, "  %-18s %7lld %9.3f %6.1f%% %9.1f\n",
                    e.value("kind", std::string()).c_str(),
                    static_cast<long long>(e.value("calls", int64_t{0})), e.value("seconds", 0.0),
                    e.value("share_pct", 0.0), e.value("gflops", 0.0));
      s << buf;
    }
  };
  table("UNet step profile (steady steps, all calls summed):", "unet_step_profile");
  table("VAE decode profile:", "vae_profile");
  return s.str();
}

}  // namespace ipa::bench
