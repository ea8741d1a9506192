// `ipadapter serve`: the server's settings (the CLI flags, docs/server.md).
#pragma once
#include <cstdint>
#include <string>

#include "ipadapter/types.h"

namespace ipa::server {

struct ServerOptions {
  std::string models;  // every model and image path of a request is relative to this folder
  std::string host = "127.0.0.1";
  int port = 8080;      // 0 = any free port (tests); Server::port() says which
  std::string api_key;  // non-empty: `Authorization: Bearer KEY` on every /v1 route

  // Engines (and embedders) stay loaded up to this estimate, least recently used evicted first.
  uint64_t max_memory_bytes = uint64_t{8} << 30;
  int queue = 16;          // jobs waiting (not counting the running ones); more → 429
  int workers = 1;         // generations at once (each engine still runs one at a time)
  int keep_jobs = 64;      // finished jobs (and their images) kept for GET; oldest dropped first
  int http_threads = 32;   // connections served at once (an SSE stream holds one)
  ComputeOptions compute;  // threads and precision of every engine (a request's precision wins)

  // Never trust input.
  uint64_t max_body_bytes = uint64_t{48} << 20;
  uint64_t max_image_bytes = uint64_t{16} << 20;      // one decoded file / data: URL
  int64_t max_image_pixels = int64_t{4096} * 4096;    // one reference / mask / init image
  int64_t max_request_pixels = int64_t{8192} * 8192;  // all images of one request together
  int64_t max_output_pixels = int64_t{2048} * 2048;   // width x height of a generation
  int max_steps = 200;
  int max_images = 8;  // num_images
  int max_json_depth = 32;
};

}  // namespace ipa::server
