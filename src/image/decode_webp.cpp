// WebP through libwebp's animation decoder with default options (RGBA output), which is what
// PIL uses for every WebP file: a still image decodes to its pixels, an animation to its first
// frame. libwebp reports errors by return value.
#include <webp/decode.h>
#include <webp/demux.h>

#include <cstring>
#include <memory>

#include "base/error.h"
#include "image/decode_codecs.h"

namespace ipa::image::detail {
namespace {

struct DemuxDeleter {
  void operator()(WebPDemuxer* d) const { WebPDemuxDelete(d); }
};
struct AnimDecoderDeleter {
  void operator()(WebPAnimDecoder* d) const { WebPAnimDecoderDelete(d); }
};

}  // namespace

RawDecode decode_webp(const uint8_t* data, size_t size, const std::string& name,
                      int64_t max_pixels) {
  WebPData webp{data, size};
  // The demuxer validates the container and gives the canvas size before anything big is
  // allocated; it refuses incomplete files.
  std::unique_ptr<WebPDemuxer, DemuxDeleter> demux(WebPDemux(&webp));
  if (!demux) throw Error("corrupt or truncated WebP file", name);
  const uint32_t width = WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_WIDTH);
  const uint32_t height = WebPDemuxGetI(demux.get(), WEBP_FF_CANVAS_HEIGHT);
  check_image_dimensions(width, height, name, max_pixels);

  RawDecode out;
  WebPChunkIterator chunk;
  if (WebPDemuxGetChunk(demux.get(), "EXIF", 1, &chunk)) {
    out.exif.assign(chunk.chunk.bytes, chunk.chunk.bytes + chunk.chunk.size);
    WebPDemuxReleaseChunkIterator(&chunk);
  }
  WebPBitstreamFeatures features;
  const bool has_alpha = WebPGetFeatures(data, size, &features) == VP8_STATUS_OK
                             ? features.has_alpha != 0
                             : (WebPDemuxGetI(demux.get(), WEBP_FF_FORMAT_FLAGS) & ALPHA_FLAG) != 0;
  out.mode = has_alpha ? "RGBA" : "RGB";

  WebPAnimDecoderOptions options;
  if (!WebPAnimDecoderOptionsInit(&options)) throw Error("cannot initialise libwebp", name);
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  std::unique_ptr<WebPAnimDecoder, AnimDecoderDeleter> decoder(WebPAnimDecoderNew(&webp, &options));
  if (!decoder) throw Error("corrupt WebP file (cannot create the decoder)", name);
  uint8_t* rgba = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(decoder.get(), &rgba, &timestamp) || !rgba)
    throw Error("corrupt or truncated WebP image data", name);

  out.image = Image(static_cast<int>(width), static_cast<int>(height));
  const size_t n = size_t(width) * height;
  uint8_t* dst = out.image.rgb.data();
  for (size_t i = 0; i < n; ++i, rgba += 4, dst += 3) std::memcpy(dst, rgba, 3);  // drop alpha
  return out;
}

}  // namespace ipa::image::detail
