// `data:image/png;base64,...` URLs: how a client sends an image inline in a JSON request.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ipa::server {

bool is_data_url(const std::string& text);

// The decoded bytes of a base64 data: URL of type image/png, image/jpeg or image/webp. Throws
// ipa::Error naming `field` for another type, a URL that is not base64, invalid base64, or more
// than `max_bytes` of data (checked before decoding).
std::vector<uint8_t> decode_image_data_url(const std::string& url, const std::string& field,
                                           uint64_t max_bytes);

}  // namespace ipa::server
