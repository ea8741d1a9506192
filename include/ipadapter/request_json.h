// ipadapter.cpp public API: a generation described in JSON — the one request schema of
// `ipadapter generate --request FILE.json` and the server (docs/request.md has every key).
//
//   {"base": "sd15", "prompt": "a cat", "steps": 30,
//    "ip_adapters": [{"file": "IP-Adapter/models/ip-adapter_sd15.safetensors",
//                     "images": ["cat.png"], "scale": 0.6}]}
//
// Keys are snake_case; unknown keys are an error naming them; every value is checked with an
// error naming its field (`ip_adapters[0].scale.down.block_2`).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ipadapter/engine.h"

namespace ipa {

// How the parser reaches the files a request names. The CLI resolves paths against the request
// file's folder; the server against its models folder (refusing paths that leave it) and also
// accepts images as data: URLs.
struct RequestSources {
  // A path from the request → the file to open; throws ipa::Error naming `field` to refuse.
  std::function<std::string(const std::string& path, const std::string& field)> resolve;
  // An image from the request (a path, or whatever the caller accepts) → decoded.
  std::function<image::Image(const std::string& ref, const std::string& field)> image;
};

struct ParsedRequest {
  // The models (resolved paths): what EngineOptions needs.
  std::string base;
  std::string base_config;  // EngineOptions::base_config
  std::string vae;          // EngineOptions::vae
  std::vector<AdapterOptions> ip_adapters;
  std::string unet;  // EngineOptions::unet
  std::vector<ControlNetOptions> controlnets;
  std::string revision, variant;          // EngineOptions::revision / variant ("" when not given)
  std::vector<LoraOptions> loras;         // EngineOptions::loras
  std::optional<ComputeOptions> compute;  // "threads" / "precision" / "device", when given
  GenerateRequest request;
  // Outputs a caller may honour (resolved paths; empty when not given).
  std::string out, dump_latents;

  // The models, their sources and the compute settings as EngineOptions (one_shot and log
  // left at their defaults; compute: as given, else the defaults) — the one mapping the CLI,
  // the server and the C API share.
  EngineOptions engine_options() const;
};

// What the parser accepts before it parses (the server passes its flags' tighter values).
struct RequestLimits {
  size_t max_bytes = size_t{16} << 20;
  int max_depth = 64;
};

// Parses and checks one JSON request (text within `limits`); `name` labels errors (the file
// name).
ParsedRequest parse_request_json(const std::string& text, const RequestSources& sources,
                                 const std::string& name = "request",
                                 const RequestLimits& limits = {});

// The nesting depth of JSON text (strings skipped), found without parsing: what callers check
// before handing untrusted text to a recursive parser.
int json_nesting_depth(const std::string& text);

// RequestSources for a request file: paths relative to `folder`, images read from files.
RequestSources file_request_sources(const std::string& folder);

}  // namespace ipa
