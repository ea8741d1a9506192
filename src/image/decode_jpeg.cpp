// JPEG through libjpeg(-turbo) with its default decoding settings, which is what PIL uses:
// integer "islow" IDCT, fancy (triangle) chroma upsampling, libjpeg's own colour-space
// detection (JFIF / Adobe markers). libjpeg reports errors through error_exit, which must not
// return: it longjmps back into run_libjpeg(), whose state lives in the caller's JpegDecoder.
#include <csetjmp>
#include <cstdio>
#include <cstring>
// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>

#include "base/error.h"
#include "image/decode_codecs.h"

namespace ipa::image::detail {
namespace {

struct JpegErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg hands us a pointer to it
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

struct JpegDecoder {
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  bool created = false;
  std::vector<uint8_t> pixels;  // output_height rows of output_width * components
  std::vector<uint8_t> exif;

  JpegDecoder() {
    std::memset(&cinfo, 0, sizeof cinfo);
    std::memset(&err, 0, sizeof err);
  }
  ~JpegDecoder() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

void on_jpeg_error(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

// Warnings (corrupt-but-decodable data) are ignored as PIL ignores them, except running out of
// data: PIL refuses truncated files ("image file is truncated"), so do we.
void on_jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    auto* e = reinterpret_cast<JpegErrorManager*>(cinfo->err);
    std::snprintf(e->message, sizeof e->message, "file is truncated");
    std::longjmp(e->jump, 1);
  }
}

void on_jpeg_output(j_common_ptr) {}

// PIL picks its mode from the component count alone.
std::string mode_name(int components) {
  return components == 1 ? "L" : components == 3 ? "RGB" : "CMYK";
}

bool run_libjpeg(JpegDecoder& d, const uint8_t* data, size_t size, const std::string& name,
                 int64_t max_pixels) {
  if (setjmp(d.err.jump)) return false;

  jpeg_create_decompress(&d.cinfo);
  d.created = true;
  jpeg_mem_src(&d.cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&d.cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&d.cinfo, TRUE);
  check_image_dimensions(d.cinfo.image_width, d.cinfo.image_height, name, max_pixels);

  // PIL picks its mode from the component count alone: 1 -> L, 3 -> RGB, 4 -> CMYK.
  switch (d.cinfo.num_components) {
    case 1:
      d.cinfo.out_color_space = JCS_GRAYSCALE;
      break;
    case 3:
      d.cinfo.out_color_space = JCS_RGB;
      break;
    case 4:
      d.cinfo.out_color_space = JCS_CMYK;
      break;
    default:
      std::snprintf(d.err.message, sizeof d.err.message, "cannot handle %d-component images",
                    d.cinfo.num_components);
      return false;
  }
  for (jpeg_saved_marker_ptr m = d.cinfo.marker_list; m; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
        std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      d.exif.assign(m->data, m->data + m->data_length);
      break;  // the first Exif segment holds IFD0
    }
  }

  jpeg_start_decompress(&d.cinfo);
  const size_t stride = size_t(d.cinfo.output_width) * d.cinfo.output_components;
  d.pixels.resize(stride * d.cinfo.output_height);
  while (d.cinfo.output_scanline < d.cinfo.output_height) {
    JSAMPROW row = d.pixels.data() + stride * d.cinfo.output_scanline;
    jpeg_read_scanlines(&d.cinfo, &row, 1);
  }
  // No jpeg_finish_decompress: like PIL, a file whose EOI (or trailing data) is missing but
  // whose scanlines are all present is accepted. The destructor releases libjpeg's memory.
  return true;
}

}  // namespace

RawDecode decode_jpeg(const uint8_t* data, size_t size, const std::string& name,
                      int64_t max_pixels) {
  JpegDecoder d;
  d.cinfo.err = jpeg_std_error(&d.err.pub);
  d.err.pub.error_exit = on_jpeg_error;
  d.err.pub.emit_message = on_jpeg_message;
  d.err.pub.output_message = on_jpeg_output;
  if (!run_libjpeg(d, data, size, name, max_pixels))
    throw Error(std::string("corrupt JPEG: ") + d.err.message, name);

  RawDecode out;
  const int w = static_cast<int>(d.cinfo.output_width), h = static_cast<int>(d.cinfo.output_height);
  const int components = d.cinfo.output_components;
  out.mode = mode_name(components);
  out.image = Image(w, h);
  const uint8_t* src = d.pixels.data();
  uint8_t* dst = out.image.rgb.data();
  const size_t n = size_t(w) * h;
  if (components == 1) {
    for (size_t i = 0; i < n; ++i, ++src, dst += 3) dst[0] = dst[1] = dst[2] = src[0];
  } else if (components == 3) {
    std::memcpy(dst, src, n * 3);
  } else {
    // PIL reads 4-component JPEGs as Adobe-inverted CMYK ("CMYK;I") and converts to RGB with
    // r = (255 - k) - c * (255 - k) / 255 in its rounding integer arithmetic.
    for (size_t i = 0; i < n; ++i, src += 4, dst += 3) {
      const int nk = src[3];  // 255 - (255 - stored k)
      for (int c = 0; c < 3; ++c) {
        const int tmp = (255 - src[c]) * nk + 128;
        const int v = nk - (((tmp >> 8) + tmp) >> 8);
        dst[c] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
  }
  out.exif = std::move(d.exif);
  return out;
}

}  // namespace ipa::image::detail
