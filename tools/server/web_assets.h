// The web page's files (tools/server/web/), compiled into the binary by cmake/embed_web.cmake:
// the page loads nothing from outside.
#pragma once
#include <string>

namespace ipa::server {

struct WebAsset {
  const char* path;  // "/", "/app.js", ...
  const char* content_type;
  const char* body;
};

// The asset served at `path`, or null.
const WebAsset* find_web_asset(const std::string& path);

}  // namespace ipa::server
