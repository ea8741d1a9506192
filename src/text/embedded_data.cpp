#include "text/embedded_data.h"

#include <zlib.h>

#include "base/error.h"

namespace ipa::text {

std::string inflate_blob(const EmbeddedBlob& blob) {
  std::string out(blob.size, '\0');
  uLongf size = static_cast<uLongf>(blob.size);
  const int rc =
      uncompress(reinterpret_cast<Bytef*>(out.data()), &size,
                 reinterpret_cast<const Bytef*>(blob.zdata), static_cast<uLong>(blob.zsize));
  if (rc != Z_OK || size != blob.size)
    throw Error("embedded data is corrupt (zlib error " + std::to_string(rc) + ")");
  return out;
}

}  // namespace ipa::text
