// phase_bench: the UNet's load, prepare (packing at load) and first / later forwards, and the
// VAE decode op by op, on a diffusers folder (e.g. the random full-size models `ipadapter
// bench` writes into its cache). Smaller and steadier than the end-to-end bench for A/B work:
//   phase_bench unet DIR [--threads 2] [--size 512] [--batch 2] [--reps 3] [--no-prepare]
//   phase_bench vae DIR [--threads 2] [--size 512] [--reps 3] [--no-prepare]
// Prints one JSON object (times in seconds, per-op profiles, the FMA peak of the same run).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "bench/peak_fma.h"
#include "models/unet/unet.h"
#include "models/vae/autoencoder_kl.h"
#include "ops/ops.h"
#include "ops/profile.h"
#include "sampling/torch_rng.h"
#include "tensor/block_pool.h"

namespace {

using clock_type = std::chrono::steady_clock;
namespace prof = ipa::ops::profile;

double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

nlohmann::json ops_json(const std::vector<prof::OpStats>& ops) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& s : ops) {
    arr.push_back({{"kind", s.kind},
                   {"calls", s.calls},
                   {"seconds", s.seconds},
                   {"gflops", s.seconds > 0 ? s.flops * 1e-9 / s.seconds : 0.0}});
  }
  return arr;
}

int usage() {
  std::fprintf(stderr,
               "usage: phase_bench unet|vae DIR [--threads N] [--size PX] [--batch B] [--reps R] "
               "[--no-prepare]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string what = argv[1], dir = argv[2];
  int threads = 2, size = 512, batch = 2, reps = 3;
  bool prepare = true;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--threads") {
      threads = next();
    } else if (a == "--size") {
      size = next();
    } else if (a == "--batch") {
      batch = next();
    } else if (a == "--reps") {
      reps = next();
    } else if (a == "--no-prepare") {
      prepare = false;
    } else {
      return usage();
    }
  }
  try {
    const ipa::ops::ThreadScope scope(threads);
    nlohmann::json r;
    r["load_avg_start"] = load_average();
    r["threads"] = threads;
    r["prepare_at_load"] = prepare;
    r["peak_gflops_before"] = ipa::bench::measure_peak_fma_gflops(threads);
    ipa::sampling::TorchGenerator g(1);
    const int64_t latent = size / 8;
    std::vector<double> wall, cpu;
    std::vector<nlohmann::json> profiles;
    auto timed = [&](auto&& fn) {
      prof::reset();
      const auto t = clock_type::now();
      const double c = cpu_seconds();
      fn();
      wall.push_back(since(t));
      cpu.push_back(cpu_seconds() - c);
      profiles.push_back(ops_json(prof::snapshot()));
    };
    prof::set_enabled(true);
    if (what == "unet") {
      auto t0 = clock_type::now();
      double c0 = cpu_seconds();
      const auto unet = ipa::unet::UNet2DConditionModel::load_dir(dir + "/unet");
      r["load_s"] = since(t0);
      r["load_cpu_s"] = cpu_seconds() - c0;
      const auto& c = unet.config();
      t0 = clock_type::now();
      c0 = cpu_seconds();
      if (prepare) unet.prepare({batch, c.in_channels, latent, latent});
      r["prepare_s"] = since(t0);
      r["prepare_cpu_s"] = cpu_seconds() - c0;
      ipa::unet::UNetInputs in;
      in.sample = g.randn({batch, c.in_channels, latent, latent});
      in.timestep = ipa::Tensor::from_vector({1}, {500.f});
      in.text = g.randn({batch, 77, c.cross_attention_dim});
      for (int i = 0; i < reps; ++i) timed([&] { unet.forward(in); });
    } else if (what == "vae") {
      auto t0 = clock_type::now();
      double c0 = cpu_seconds();
      const auto vae = ipa::vae::AutoencoderKL::load(dir + "/vae");
      r["load_s"] = since(t0);
      r["load_cpu_s"] = cpu_seconds() - c0;
      const ipa::Shape z{1, vae.config().latent_channels, latent, latent};
      ipa::vae::TilingOptions tiling;
      tiling.mode = ipa::vae::Tiling::kOff;
      t0 = clock_type::now();
      c0 = cpu_seconds();
      if (prepare) vae.prepare_decode(z, tiling);
      r["prepare_s"] = since(t0);
      r["prepare_cpu_s"] = cpu_seconds() - c0;
      const ipa::Tensor zt = g.randn(z);
      for (int i = 0; i < reps; ++i) timed([&] { vae.decode(zt, tiling); });
    } else {
      return usage();
    }
    r["wall_s"] = wall;
    r["cpu_s"] = cpu;
    r["profiles"] = profiles;
    r["peak_gflops_after"] = ipa::bench::measure_peak_fma_gflops(threads);
    r["load_avg_end"] = load_average();
    std::printf("%s\n", r.dump(1).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "phase_bench: %s\n", e.what());
    return 1;
  }
}
