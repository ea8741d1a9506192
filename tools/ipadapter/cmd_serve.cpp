// `ipadapter serve`: the HTTP server and its web page (tools/server, docs/server.md) — models
// loaded on demand from --models and kept up to --max-memory, jobs queued, limits on every input.
#include <pthread.h>

#include <csignal>
#include <cstdio>

#include "commands.h"
#include "compute_options.h"
#include "ipadapter/error.h"
#include "server/server.h"

namespace ipa::cli {
namespace {

struct ServeFlags {
  server::ServerOptions o;
  std::string max_memory = "8G", max_body = "48M", max_image = "16M";
  ComputeFlags compute;
};

// "8G", "512M", "64K" or bytes.
uint64_t parse_bytes(const std::string& flag, const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = text.substr(used);
  const double scale = unit.empty()                   ? 1.0
                       : unit == "K" || unit == "KiB" ? 1024.0
                       : unit == "M" || unit == "MiB" ? 1048576.0
                       : unit == "G" || unit == "GiB" ? 1073741824.0
                                                      : -1.0;
  if (used == 0 || scale < 0 || !(v > 0) || v * scale > 1e18) {
    throw Error(flag + " must be a size such as 8G, 512M or 1048576, got '" + text + "'");
  }
  return static_cast<uint64_t>(v * scale);
}

int run_serve(ServeFlags& f) {
  server::ServerOptions o = f.o;
  o.max_memory_bytes = parse_bytes("--max-memory", f.max_memory);
  o.max_body_bytes = parse_bytes("--max-body", f.max_body);
  o.max_image_bytes = parse_bytes("--max-image-bytes", f.max_image);
  o.compute = f.compute.options();
  // Every thread the server starts inherits this mask, so SIGINT / SIGTERM reach sigwait below
  // and the server stops cleanly (jobs cancelled, threads joined).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  server::Server srv(o, [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); });
  const int port = srv.start();
  std::printf("ipadapter serve: http://%s:%d/ (models: %s)\n", o.host.c_str(), port,
              o.models.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "stopping (signal %d)\n", sig);
  srv.stop();
  return 0;
}

const bool registered = register_command(
    "serve", "HTTP server with a web page: generate from a browser or over JSON",
    [](CLI::App& sub) {
      auto f = std::make_shared<ServeFlags>();
      server::ServerOptions& o = f->o;
      sub.add_option("--models", o.models,
                     "Folder of the models (and images) requests may name, by relative path")
          ->required();
      sub.add_option("--host", o.host, "Address to listen on (0.0.0.0: every interface)")
          ->capture_default_str();
      sub.add_option("--port", o.port, "Port (0: any free port, printed)")->capture_default_str();
      sub.add_option("--api-key", o.api_key,
                     "Require `Authorization: Bearer KEY` on every /v1 route (default: none)");
      sub.add_option("--max-memory", f->max_memory,
                     "Keep loaded models up to this estimate, least recently used evicted")
          ->capture_default_str();
      sub.add_option("--queue", o.queue, "Jobs waiting at most; more are answered 429")
          ->capture_default_str()
          ->check(CLI::Range(0, 100000));
      sub.add_option("--workers", o.workers, "Generations running at once")
          ->capture_default_str()
          ->check(CLI::Range(1, 64));
      sub.add_option("--keep-jobs", o.keep_jobs, "Finished jobs (and images) kept for clients")
          ->capture_default_str()
          ->check(CLI::Range(1, 100000));
      sub.add_option("--http-threads", o.http_threads,
                     "Connections served at once (an event stream holds one)")
          ->capture_default_str()
          ->check(CLI::Range(4, 1024));
      sub.add_option("--max-body", f->max_body, "Largest request body")->capture_default_str();
      sub.add_option("--max-image-bytes", f->max_image, "Largest image (file or data: URL)")
          ->capture_default_str();
      sub.add_option("--max-image-pixels", o.max_image_pixels,
                     "Largest input image, width x height")
          ->capture_default_str()
          ->check(CLI::Range(int64_t{1}, int64_t{1} << 28));
      sub.add_option("--max-request-pixels", o.max_request_pixels,
                     "All input images of one request together, width x height")
          ->capture_default_str()
          ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
      sub.add_option("--max-output-pixels", o.max_output_pixels,
                     "Largest generation, width x height")
          ->capture_default_str()
          ->check(CLI::Range(int64_t{64}, int64_t{1} << 28));
      sub.add_option("--max-steps", o.max_steps, "Most steps a request may ask")
          ->capture_default_str()
          ->check(CLI::Range(1, 1000));
      sub.add_option("--max-images", o.max_images, "Most images per request (num_images)")
          ->capture_default_str()
          ->check(CLI::Range(1, 64));
      sub.add_option("--max-json-depth", o.max_json_depth, "Deepest JSON nesting accepted")
          ->capture_default_str()
          ->check(CLI::Range(4, 64));
      add_compute_options(sub, f->compute);
      return [f] { return run_serve(*f); };
    });

}  // namespace
}  // namespace ipa::cli
