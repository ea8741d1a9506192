#include "data_url.h"

#include <array>

#include "ipadapter/error.h"

namespace ipa::server {

bool is_data_url(const std::string& text) {
  return text.rfind("data:", 0) == 0;
}

std::vector<uint8_t> decode_image_data_url(const std::string& url, const std::string& field,
                                           uint64_t max_bytes) {
  const size_t comma = url.find(',');
  if (!is_data_url(url) || comma == std::string::npos) {
    throw Error(field + ": not a data: URL (data:image/png;base64,...)");
  }
  const std::string header = url.substr(5, comma - 5);
  const size_t semi = header.find(';');
  const std::string type = header.substr(0, semi);
  if (type != "image/png" && type != "image/jpeg" && type != "image/webp") {
    throw Error(field + ": data: URL type must be image/png, image/jpeg or image/webp, got '" +
                type.substr(0, 64) + "'");
  }
  if (semi == std::string::npos || header.substr(semi) != ";base64") {
    throw Error(field + ": data: URL must be base64 (data:" + type + ";base64,...)");
  }
  const size_t n = url.size() - comma - 1;
  if (n / 4 * 3 > max_bytes + 3) {
    throw Error(field + ": image larger than the limit of " + std::to_string(max_bytes) + " bytes");
  }
  static const std::array<int8_t, 256> table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(a[i])] = static_cast<int8_t>(i);
    return t;
  }();
  std::vector<uint8_t> out;
  out.reserve(n / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t padding = 0;
  for (size_t i = comma + 1; i < url.size(); ++i) {
    const uint8_t c = static_cast<uint8_t>(url[i]);
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0 || table[c] < 0) throw Error(field + ": invalid base64 in the data: URL");
    acc = (acc << 6) | static_cast<uint32_t>(table[c]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  if (padding > 2 || bits >= 6) throw Error(field + ": invalid base64 in the data: URL");
  if (out.size() > max_bytes) {
    throw Error(field + ": image larger than the limit of " + std::to_string(max_bytes) + " bytes");
  }
  return out;
}

}  // namespace ipa::server
