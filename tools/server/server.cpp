#include "server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <thread>

#include "bench/process_memory.h"
#include "data_url.h"
#include "engine_cache.h"
#include "ipadapter/io.h"
#include "ipadapter/request_json.h"
#include "job_queue.h"
#include "model_catalog.h"
#include "model_root.h"
#include "web_assets.h"

namespace ipa::server {

namespace {

using nlohmann::json;
constexpr auto kSseKeepalive = std::chrono::seconds(5);

// Constant-time comparison of the API key (no early exit on the first differing byte).
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i % std::max<size_t>(b.size(), 1)];
  return diff == 0;
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Messages may quote the client's bytes: invalid UTF-8 is replaced, never an exception.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

// A 400 for an ipa::Error: the message, and the field it names when it starts with one
// ("ip_adapters[0].scale: must be ...", after the "request: " label).
void send_bad_request(httplib::Response& res, const std::string& label, const std::string& what) {
  std::string msg = what;
  if (msg.rfind(label + ": ", 0) == 0) msg = msg.substr(label.size() + 2);
  json body = {{"error", msg}};
  const size_t colon = msg.find(": ");
  if (colon != std::string::npos && colon > 0 &&
      msg.find_first_of(" \"'/") > colon) {  // a field name has no spaces
    body["field"] = msg.substr(0, colon);
  }
  send_json(res, 400, body);
}

std::vector<uint8_t> read_file_bounded(const std::string& path, uint64_t max_bytes,
                                       const std::string& field) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(field + ": cannot read the file");
  const auto size = static_cast<uint64_t>(in.tellg());
  if (size > max_bytes) {
    throw Error(field + ": image file larger than the limit of " + std::to_string(max_bytes) +
                " bytes");
  }
  std::vector<uint8_t> bytes(size);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  return bytes;
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  LogFn log;
  ModelRoot root;
  ModelCatalog catalog;
  EngineCache cache;
  JobQueue jobs;
  httplib::Server http;
  std::thread listener;
  std::mutex embed_mutex;  // one /v1/embed at a time (it runs on the connection's thread)
  std::atomic<bool> stopped{false};
  std::atomic<int> open_streams{0};
  int port = 0;
  double start_rss_mb = bench::current_rss_mb();

  Impl(const ServerOptions& o, LogFn l)
      : options(o),
        log(std::move(l)),
        root(o.models),
        catalog(root),
        cache(o.max_memory_bytes, log),
        jobs(options, cache, log) {
    routes();
  }

  // A request's images are decoded while it is parsed; `pixels` counts them against
  // --max-request-pixels (a queued request holds its decoded images until it runs).
  RequestSources sources() const {
    RequestSources s;
    auto pixels = std::make_shared<int64_t>(0);
    s.resolve = [this](const std::string& path, const std::string& field) {
      if (field == "out" || field == "dump_latents") {
        throw Error(field +
                    ": not accepted by the server (images are served at "
                    "/v1/jobs/{id}/images/{n})");
      }
      return root.resolve(path, field);
    };
    s.image = [this, pixels](const std::string& ref, const std::string& field) {
      const std::vector<uint8_t> bytes =
          is_data_url(ref)
              ? decode_image_data_url(ref, field, options.max_image_bytes)
              : read_file_bounded(root.resolve(ref, field), options.max_image_bytes, field);
      const int64_t left = options.max_request_pixels - *pixels;
      if (left <= 0) {
        throw Error(field + ": the request's images exceed " +
                    std::to_string(options.max_request_pixels) + " pixels in all");
      }
      image::Image img =
          decode_image(bytes.data(), bytes.size(), field, std::min(options.max_image_pixels, left));
      *pixels += int64_t{img.width} * img.height;
      return img;
    };
    return s;
  }

  // Messages from the engine name files by their absolute paths: answers show them relative to
  // the models folder (clients never learn where the server keeps its files).
  std::string redact(std::string msg) const {
    const std::string prefix = root.path().string() + "/";
    for (size_t at; (at = msg.find(prefix)) != std::string::npos;) msg.erase(at, prefix.size());
    return msg;
  }
  json redact_job(json job) const {
    if (job.contains("error")) job["error"] = redact(job["error"].get<std::string>());
    return job;
  }

  RequestLimits limits() const {
    return {static_cast<size_t>(options.max_body_bytes), options.max_json_depth};
  }

  // The request parsed and checked as far as possible before it is queued; throws ipa::Error
  // naming the field.
  ParsedRequest parse_generate(const std::string& body) {
    ParsedRequest pr = parse_request_json(body, sources(), "request", limits());
    const GenerateRequest& r = pr.request;
    if (pr.base.empty())
      throw Error("base: is required (a pipeline folder under the models folder)");
    if (r.steps > options.max_steps) {
      throw Error("steps: at most " + std::to_string(options.max_steps) + " on this server, got " +
                  std::to_string(r.steps));
    }
    if (r.num_images > options.max_images) {
      throw Error("num_images: at most " + std::to_string(options.max_images) +
                  " on this server, got " + std::to_string(r.num_images));
    }
    if (int64_t{r.width} * r.height > options.max_output_pixels) {
      throw Error("width: width x height is at most " + std::to_string(options.max_output_pixels) +
                  " pixels on this server, got " + std::to_string(r.width) + "x" +
                  std::to_string(r.height));
    }
    r.validate();
    // With the engine already loaded the request is checked against the models now (a 400);
    // otherwise that happens when it loads, and a mismatch ends the job with an error.
    EngineOptions o = pr.engine_options();
    o.compute = options.compute;
    if (pr.compute) {
      o.compute.precision = pr.compute->precision;
      o.compute.device = pr.compute->device;
    }
    if (const auto engine = cache.find_engine(o)) engine->check(r);
    return pr;
  }

  json health() {
    const JobCounts c = jobs.counts();
    const CacheStats s = cache.stats();
    return {{"status", "ok"},
            {"queued", c.queued},
            {"event_streams", open_streams.load()},
            {"running", c.running},
            {"jobs",
             {{"accepted", c.accepted},
              {"done", c.done},
              {"error", c.failed},
              {"cancelled", c.cancelled},
              {"rejected_queue_full", c.rejected_full}}},
            {"engines",
             {{"loaded", s.entries},
              {"estimate_mib", s.bytes >> 20},
              {"budget_mib", s.budget >> 20},
              {"loads", s.loads},
              {"evictions", s.evictions}}},
            {"memory",
             {{"rss_mib", bench::current_rss_mb()},
              {"peak_rss_mib", bench::peak_rss_mb()},
              {"start_rss_mib", start_rss_mb}}}};
  }

  void embed(const httplib::Request& req, httplib::Response& res) {
    const std::string label = "request";
    try {
      if (req.body.size() > options.max_body_bytes ||
          json_nesting_depth(req.body) > options.max_json_depth) {
        throw Error("the request is larger or nests deeper than this server accepts");
      }
      json j;
      try {
        j = json::parse(req.body);
      } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e400
        throw Error(std::string("not valid JSON: ") + e.what());
      }
      if (!j.is_object()) throw Error("request: must be a JSON object");
      for (const auto& [k, v] : j.items()) {
        if (k != "ip_adapter" && k != "image_encoder" && k != "images" && k != "image_prep") {
          throw Error(k + ": unknown key (known: image_encoder, image_prep, images, ip_adapter)");
        }
      }
      const RequestSources src = sources();
      auto text = [&](const char* key) {
        if (!j[key].is_string()) throw Error(std::string(key) + ": must be a string");
        return j[key].get<std::string>();
      };
      EmbedderOptions o;
      if (!j.contains("ip_adapter")) throw Error("ip_adapter: is required");
      o.ip_adapter = src.resolve(text("ip_adapter"), "ip_adapter");
      if (j.contains("image_encoder"))
        o.image_encoder = src.resolve(text("image_encoder"), "image_encoder");
      o.compute = options.compute;
      ImagePrep prep = ImagePrep::Crop;
      if (j.contains("image_prep")) {
        const auto p = parse_image_prep(text("image_prep"));
        if (!p) throw Error("image_prep: must be 'crop' or 'squash'");
        prep = *p;
      }
      if (!j.contains("images") || !j["images"].is_array() || j["images"].empty() ||
          j["images"].size() > 64) {
        throw Error("images: must be a list of 1 to 64 images (data: URLs or paths)");
      }
      std::vector<image::Image> images;
      for (size_t i = 0; i < j["images"].size(); ++i) {
        const std::string f = "images[" + std::to_string(i) + "]";
        if (!j["images"][i].is_string()) throw Error(f + ": must be a string");
        images.push_back(src.image(j["images"][i].get<std::string>(), f));
      }
      std::lock_guard<std::mutex> lock(embed_mutex);
      const auto embedder = cache.embedder(o);
      const ImagePromptEmbeddings e = embedder->embed(images, prep);
      auto array = [](const FloatArray& a) { return json{{"shape", a.shape}, {"data", a.data}}; };
      const AdapterDescription& a = embedder->adapter();
      send_json(res, 200,
                {{"adapter",
                  {{"variant", a.variant},
                   {"tokens_per_image", a.tokens_per_image},
                   {"width", a.width},
                   {"image_encoder", root.relative(a.image_encoder)}}},
                 {"image_prompt_embeds", array(e.cond)},
                 {"uncond_image_prompt_embeds", array(e.uncond)}});
    } catch (const Error& e) {
      send_bad_request(res, label, redact(std::string(e.what())));
    }
  }

  void events(const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    if (!jobs.status(id)) return send_json(res, 404, {{"error", "no such job"}});
    // Each stream holds a connection thread: at most half of them stream, so /health and the
    // API always have threads left.
    if (open_streams.fetch_add(1) >= std::max(1, options.http_threads / 2)) {
      --open_streams;
      res.set_header("Retry-After", "1");
      return send_json(res, 503,
                       {{"error", "too many event streams open; poll GET /v1/jobs/{id}"}});
    }
    // Released with the provider, however the stream ends (done, hung up, server stopped).
    auto seen = std::shared_ptr<uint64_t>(new uint64_t(0), [this](uint64_t* p) {
      delete p;
      --open_streams;
    });
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream", [this, id, seen](size_t, httplib::DataSink& sink) {
          const auto j = jobs.wait(id, *seen, kSseKeepalive);
          if (!j || stopped) {
            sink.done();
            return true;
          }
          std::string chunk;
          const uint64_t version = (*j)["version"].get<uint64_t>();
          if (version == *seen) {
            chunk = ": keep-alive\n\n";
          } else {
            *seen = version;
            const std::string state = (*j)["state"];
            const std::string event = state == "done"        ? "done"
                                      : state == "error"     ? "error"
                                      : state == "cancelled" ? "cancelled"
                                                             : "progress";
            chunk = "event: " + event + "\ndata: " +
                    redact_job(*j).dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
          }
          // A client that went away makes the write fail: the stream ends, the job goes on.
          if (!sink.write(chunk.data(), chunk.size())) return false;
          const std::string state = (*j)["state"];
          if (state == "done" || state == "error" || state == "cancelled") sink.done();
          return true;
        });
  }

  void routes() {
    http.new_task_queue = [n = std::max(4, options.http_threads)] {
      return new httplib::ThreadPool(static_cast<size_t>(n));
    };
    // TCP_NODELAY (inherited by accepted sockets on Linux): httplib sends headers and body in
    // separate writes, which Nagle + delayed ACKs would hold ~40 ms on a keep-alive connection.
    http.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    });
    http.set_payload_max_length(options.max_body_bytes);
    http.set_keep_alive_timeout(5);
    http.set_read_timeout(30);
    http.set_write_timeout(30);

    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (options.api_key.empty() || req.path.rfind("/v1/", 0) != 0) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      if (!same_secret(req.get_header_value("Authorization"), "Bearer " + options.api_key)) {
        res.set_header("WWW-Authenticate", "Bearer");
        send_json(res, 401, {{"error", "missing or wrong API key (Authorization: Bearer KEY)"}});
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      const char* what = res.status == 404   ? "no such route"
                         : res.status == 413 ? "the request body is larger than this server "
                                               "accepts (--max-body)"
                         : res.status == 405 ? "method not allowed"
                                             : "request refused";
      send_json(res, res.status, {{"error", what}});
    });
    http.set_exception_handler(
        [this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "internal error";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          if (log) log("internal error: " + what);
          send_json(res, 500, {{"error", what}});
        });

    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200, health());
    });
    for (const char* path : {"/", "/app.js", "/style.css"}) {
      http.Get(path, [](const httplib::Request& req, httplib::Response& res) {
        const WebAsset* a = find_web_asset(req.path);
        if (!a) return send_json(res, 404, {{"error", "no such file"}});
        // Nothing may load from outside the server (and no inline script runs).
        res.set_header("Content-Security-Policy",
                       "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
                       "style-src 'self'; script-src 'self'; object-src 'none'; "
                       "base-uri 'none'; frame-ancestors 'none'");
        res.set_header("X-Content-Type-Options", "nosniff");
        res.set_content(a->body, a->content_type);
      });
    }
    http.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
      send_json(res, 200, catalog.list(req.has_param("refresh")));
    });
    http.Post("/v1/generate", [this](const httplib::Request& req, httplib::Response& res) {
      ParsedRequest pr;
      try {
        pr = parse_generate(req.body);
      } catch (const Error& e) {
        return send_bad_request(res, "request", redact(std::string(e.what())));
      }
      const auto id = jobs.submit(std::move(pr));
      if (!id) {
        res.set_header("Retry-After", std::to_string(jobs.retry_after_s()));
        return send_json(
            res, 429,
            {{"error", "the queue is full (--queue " + std::to_string(options.queue) + ")"}});
      }
      send_json(res, 202, {{"id", *id}});
    });
    http.Get(R"(/v1/jobs/([0-9a-f]{1,64}))",
             [this](const httplib::Request& req, httplib::Response& res) {
               const auto j = jobs.status(req.matches[1]);
               if (!j) return send_json(res, 404, {{"error", "no such job"}});
               send_json(res, 200, redact_job(*j));
             });
    http.Delete(R"(/v1/jobs/([0-9a-f]{1,64}))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  if (!jobs.cancel(req.matches[1])) {
                    return send_json(res, 404, {{"error", "no such job"}});
                  }
                  send_json(res, 200, redact_job(*jobs.status(req.matches[1])));
                });
    http.Get(R"(/v1/jobs/([0-9a-f]{1,64})/events)",
             [this](const httplib::Request& req, httplib::Response& res) { events(req, res); });
    http.Get(R"(/v1/jobs/([0-9a-f]{1,64})/images/(\d{1,3}))", [this](const httplib::Request& req,
                                                                     httplib::Response& res) {
      const auto png = jobs.image(req.matches[1], std::stoul(req.matches[2]));
      if (!png) return send_json(res, 404, {{"error", "no such image (yet)"}});
      res.set_header("Cache-Control", "private, max-age=3600");
      res.set_content(reinterpret_cast<const char*>(png->data()), png->size(), "image/png");
    });
    http.Post("/v1/embed",
              [this](const httplib::Request& req, httplib::Response& res) { embed(req, res); });
  }
};

Server::Server(const ServerOptions& options, LogFn log)
    : impl_(std::make_unique<Impl>(options, std::move(log))) {}

Server::~Server() {
  stop();
}

int Server::start() {
  std::signal(SIGPIPE, SIG_IGN);
  const ServerOptions& o = impl_->options;
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    if (port < 0) throw Error("cannot listen on " + o.host);
  } else if (!impl_->http.bind_to_port(o.host, port)) {
    throw Error("cannot listen on " + o.host + ":" + std::to_string(port) +
                " (in use, or not an address of this machine)");
  }
  impl_->port = port;
  impl_->listener = std::thread([this] { impl_->http.listen_after_bind(); });
  return port;
}

int Server::port() const {
  return impl_->port;
}

void Server::stop() {
  if (impl_->stopped.exchange(true)) return;
  impl_->jobs.stop();  // wakes the event streams, cancels the jobs
  impl_->http.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
}

}  // namespace ipa::server
