// libFuzzer target: the JSON request parser (docs/request.md) on arbitrary text — what the
// server's POST /v1/generate hands it. Only ipa::Error may come out: any other exception (a
// nlohmann type error the parser failed to check for, a bad_alloc from an unchecked size), a
// crash or a sanitizer report is a finding. Paths resolve to names the stubs below refuse, and
// images decode to a 1x1 image, so no file is touched.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ipadapter/io.h"
#include "ipadapter/request_json.h"

namespace ipa {
// The parser reads `init_latents` / `image_embeds` files through these; nothing is read here.
image::Image read_image(const std::string& path) {
  throw Error("no files in the fuzzer", path);
}
std::map<std::string, FloatArray> read_float_arrays(const std::string& path) {
  throw Error("no files in the fuzzer", path);
}
}  // namespace ipa

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ipa::RequestSources sources;
  sources.resolve = [](const std::string& path, const std::string& field) {
    if (path.empty() || path[0] == '/') throw ipa::Error(field + ": refused");
    return "fuzz/" + path;
  };
  sources.image = [](const std::string& ref, const std::string& field) {
    if (ref.empty()) throw ipa::Error(field + ": empty");
    ipa::image::Image img(1, 1);
    img.rgb = {static_cast<uint8_t>(ref[0]), 0, 0};
    return img;
  };
  ipa::RequestLimits limits;
  limits.max_depth = 32;
  try {
    const ipa::ParsedRequest pr = ipa::parse_request_json(
        std::string(reinterpret_cast<const char*>(data), size), sources, "fuzz", limits);
    (void)pr;
  } catch (const ipa::Error&) {
  }
  return 0;
}
