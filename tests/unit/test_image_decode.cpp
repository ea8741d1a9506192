// Decoding PNG / JPEG / WebP into RGB the way PIL's convert("RGB") does, and refusing every
// kind of broken input with an ipa::Error.
#include <gtest/gtest.h>

#include <random>

#include "image/decode.h"
#include "image/exif.h"
#include "image_test_files.h"
#include "test_support.h"

namespace ipa {
namespace {

using image::Image;
using testimg::Bytes;

Image decode(const Bytes& b, image::DecodeInfo* info = nullptr, bool exif = true) {
  image::DecodeOptions o;
  o.apply_exif_orientation = exif;
  return image::decode_image(b.data(), b.size(), "test-image", o, info);
}

// A deterministic pattern with all three channels distinct.
Bytes pattern(int w, int h, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(size_t(w) * h * channels);
  for (auto& v : b) v = static_cast<uint8_t>(rng());
  return b;
}

void expect_pixel(const Image& img, int x, int y, uint8_t r, uint8_t g, uint8_t b) {
  const uint8_t* p = img.pixel(x, y);
  EXPECT_EQ(p[0], r) << "at " << x << "," << y;
  EXPECT_EQ(p[1], g) << "at " << x << "," << y;
  EXPECT_EQ(p[2], b) << "at " << x << "," << y;
}

TEST(ImageDecode, DetectsFormatFromMagicBytes) {
  const Bytes png = testimg::make_png({2, 1, PNG_COLOR_TYPE_GRAY, 8, false, {1, 2}});
  EXPECT_EQ(image::detect_image_format(png.data(), png.size()), image::ImageFormat::kPng);
  const Bytes px = pattern(8, 8, 3, 1);
  const Bytes jpg = testimg::make_jpeg(px.data(), 8, 8, 3, JCS_RGB);
  EXPECT_EQ(image::detect_image_format(jpg.data(), jpg.size()), image::ImageFormat::kJpeg);
  const Bytes rgba = pattern(4, 4, 4, 2);
  const Bytes webp = testimg::make_webp_lossless(rgba.data(), 4, 4);
  EXPECT_EQ(image::detect_image_format(webp.data(), webp.size()), image::ImageFormat::kWebP);
  const Bytes junk = {'G', 'I', 'F', '8', '9', 'a', 0, 0, 0, 0, 0, 0};
  EXPECT_FALSE(image::detect_image_format(junk.data(), junk.size()));

  // A PNG saved as "photo.jpg" is still a PNG.
  const std::string dir = test::temp_dir("decode_magic");
  testimg::write_file(dir + "/photo.jpg", png);
  image::DecodeInfo info;
  const Image img = image::read_image(dir + "/photo.jpg", {}, &info);
  EXPECT_EQ(info.format, image::ImageFormat::kPng);
  expect_pixel(img, 1, 0, 2, 2, 2);
}

TEST(ImageDecode, PngRgbExact) {
  const Bytes px = pattern(7, 5, 3, 3);
  image::DecodeInfo info;
  const Image img = decode(testimg::make_png({7, 5, PNG_COLOR_TYPE_RGB, 8, false, px}), &info);
  EXPECT_EQ(info.source_mode, "RGB");
  ASSERT_EQ(img.width, 7);
  ASSERT_EQ(img.height, 5);
  EXPECT_EQ(img.rgb, px);
}

TEST(ImageDecode, PngInterlacedExact) {
  const Bytes px = pattern(13, 11, 3, 4);
  const Image img = decode(testimg::make_png({13, 11, PNG_COLOR_TYPE_RGB, 8, true, px}));
  EXPECT_EQ(img.rgb, px);
}

TEST(ImageDecode, PngRgbaDropsAlphaWithoutCompositing) {
  Bytes px = pattern(6, 4, 4, 5);
  px[3] = 0;  // fully transparent pixel keeps its colour
  image::DecodeInfo info;
  const Image img =
      decode(testimg::make_png({6, 4, PNG_COLOR_TYPE_RGB_ALPHA, 8, false, px}), &info);
  EXPECT_EQ(info.source_mode, "RGBA");
  for (int i = 0; i < 24; ++i)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(img.rgb[i * 3 + c], px[i * 4 + c]) << i;
}

TEST(ImageDecode, PngGreyReplicated) {
  const Bytes px = pattern(5, 3, 1, 6);
  image::DecodeInfo info;
  const Image img = decode(testimg::make_png({5, 3, PNG_COLOR_TYPE_GRAY, 8, false, px}), &info);
  EXPECT_EQ(info.source_mode, "L");
  for (int i = 0; i < 15; ++i) expect_pixel(img, i % 5, i / 5, px[i], px[i], px[i]);
}

TEST(ImageDecode, PngLowBitDepthGreyScaledTo255) {
  // 1-bit: 0 / 255; 2-bit: v * 85; 4-bit: v * 17 (PIL's "1", "L;2", "L;4").
  const Image one = decode(testimg::make_png({8, 1, PNG_COLOR_TYPE_GRAY, 1, false, {0xA5}}));
  const int bits[8] = {1, 0, 1, 0, 0, 1, 0, 1};
  for (int x = 0; x < 8; ++x) expect_pixel(one, x, 0, bits[x] * 255, bits[x] * 255, bits[x] * 255);
  const Image two = decode(testimg::make_png({4, 1, PNG_COLOR_TYPE_GRAY, 2, false, {0x1B}}));
  for (int x = 0; x < 4; ++x) expect_pixel(two, x, 0, x * 85, x * 85, x * 85);
  const Image four = decode(testimg::make_png({2, 1, PNG_COLOR_TYPE_GRAY, 4, false, {0x3C}}));
  expect_pixel(four, 0, 0, 3 * 17, 3 * 17, 3 * 17);
  expect_pixel(four, 1, 0, 12 * 17, 12 * 17, 12 * 17);
}

TEST(ImageDecode, Png16BitKeepsHighByte) {
  const Bytes rgb16 = {0x12, 0xFF, 0x34, 0x00, 0xAB, 0x80, 0xFF, 0xFF, 0x00, 0x01, 0x7F, 0xFF};
  const Image rgb = decode(testimg::make_png({2, 1, PNG_COLOR_TYPE_RGB, 16, false, rgb16}));
  expect_pixel(rgb, 0, 0, 0x12, 0x34, 0xAB);
  expect_pixel(rgb, 1, 0, 0xFF, 0x00, 0x7F);
  const Bytes grey16 = {0x80, 0xFF, 0x01, 0x02};
  const Image grey = decode(testimg::make_png({2, 1, PNG_COLOR_TYPE_GRAY, 16, false, grey16}));
  expect_pixel(grey, 0, 0, 0x80, 0x80, 0x80);
  expect_pixel(grey, 1, 0, 0x01, 0x01, 0x01);
  const Bytes rgba16 = {0x10, 0x11, 0x20, 0x21, 0x30, 0x31, 0x00, 0x00};
  const Image rgba = decode(testimg::make_png({1, 1, PNG_COLOR_TYPE_RGB_ALPHA, 16, false, rgba16}));
  expect_pixel(rgba, 0, 0, 0x10, 0x20, 0x30);
  const Bytes la16 = {0xC8, 0x01, 0x00, 0x00};
  const Image la = decode(testimg::make_png({1, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 16, false, la16}));
  expect_pixel(la, 0, 0, 0xC8, 0xC8, 0xC8);
}

TEST(ImageDecode, PngGreyAlphaDropsAlpha) {
  image::DecodeInfo info;
  const Image img = decode(
      testimg::make_png({2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, false, {10, 0, 200, 128}}), &info);
  EXPECT_EQ(info.source_mode, "LA");
  expect_pixel(img, 0, 0, 10, 10, 10);
  expect_pixel(img, 1, 0, 200, 200, 200);
}

TEST(ImageDecode, PngPaletteExpandedTransparencyIgnored) {
  testimg::PngSpec s{4, 1, PNG_COLOR_TYPE_PALETTE, 8, false, {0, 1, 2, 1}};
  s.palette = {{255, 0, 0}, {0, 128, 255}, {7, 8, 9}};
  s.trns = {0, 128};  // entry 0 fully transparent: PIL's convert("RGB") ignores tRNS
  image::DecodeInfo info;
  const Image img = decode(testimg::make_png(s), &info);
  EXPECT_EQ(info.source_mode, "P");
  expect_pixel(img, 0, 0, 255, 0, 0);
  expect_pixel(img, 1, 0, 0, 128, 255);
  expect_pixel(img, 2, 0, 7, 8, 9);
  expect_pixel(img, 3, 0, 0, 128, 255);
}

TEST(ImageDecode, PngPackedPaletteAndIndicesPastThePalette) {
  // 2-bit indices 0,1,2,3 with a 3-entry palette: index 3 has no entry; PIL's palette starts as
  // a grey ramp, so it shows as (3, 3, 3).
  testimg::PngSpec s{4, 1, PNG_COLOR_TYPE_PALETTE, 2, false, {0x1B}};
  s.palette = {{10, 20, 30}, {40, 50, 60}, {70, 80, 90}};
  const Image img = decode(testimg::make_png(s));
  expect_pixel(img, 0, 0, 10, 20, 30);
  expect_pixel(img, 1, 0, 40, 50, 60);
  expect_pixel(img, 2, 0, 70, 80, 90);
  expect_pixel(img, 3, 0, 3, 3, 3);
}

TEST(ImageDecode, JpegMatchesLibjpegDefaults) {
  // Our decoder must give exactly what libjpeg gives with default settings (PIL's settings):
  // decode independently here and compare.
  const Bytes px = pattern(33, 17, 3, 7);
  for (bool progressive : {false, true}) {
    const Bytes jpg = testimg::make_jpeg(px.data(), 33, 17, 3, JCS_RGB, 85, progressive);
    jpeg_decompress_struct d;
    jpeg_error_mgr err;
    d.err = jpeg_std_error(&err);
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, jpg.data(), jpg.size());
    jpeg_read_header(&d, TRUE);
    d.out_color_space = JCS_RGB;
    jpeg_start_decompress(&d);
    Bytes ref(size_t(33) * 17 * 3);
    while (d.output_scanline < d.output_height) {
      JSAMPROW row = ref.data() + size_t(d.output_scanline) * 33 * 3;
      jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    image::DecodeInfo info;
    const Image img = decode(jpg, &info);
    EXPECT_EQ(info.source_mode, "RGB");
    EXPECT_EQ(img.rgb, ref) << "progressive=" << progressive;
  }
}

TEST(ImageDecode, JpegGreyReplicated) {
  const Bytes px = pattern(9, 9, 1, 8);
  image::DecodeInfo info;
  const Image img = decode(testimg::make_jpeg(px.data(), 9, 9, 1, JCS_GRAYSCALE, 95), &info);
  EXPECT_EQ(info.source_mode, "L");
  for (int i = 0; i < 81; ++i) {
    const uint8_t* p = img.pixel(i % 9, i / 9);
    EXPECT_EQ(p[0], p[1]);
    EXPECT_EQ(p[1], p[2]);
  }
}

TEST(ImageDecode, JpegCmykUsesPilInvertedConversion) {
  // A flat CMYK image: libjpeg returns the stored (Adobe-inverted) samples s; PIL inverts them
  // and converts with r = (255 - k) - c (255 - k) / 255, i.e. r = s_k - (255 - s_c) s_k / 255.
  const uint8_t stored[4] = {200, 60, 255, 180};
  Bytes px;
  for (int i = 0; i < 16 * 16; ++i) px.insert(px.end(), stored, stored + 4);
  const Bytes jpg = testimg::make_jpeg(px.data(), 16, 16, 4, JCS_CMYK, 100);
  image::DecodeInfo info;
  const Image img = decode(jpg, &info);
  EXPECT_EQ(info.source_mode, "CMYK");
  for (int c = 0; c < 3; ++c) {
    const double expected = stored[3] - (255.0 - stored[c]) * stored[3] / 255.0;
    EXPECT_NEAR(img.pixel(8, 8)[c], expected, 2.0) << "channel " << c;  // JPEG loss only
  }
}

TEST(ImageDecode, WebPLosslessRoundTrip) {
  Bytes rgba = pattern(9, 7, 4, 9);
  rgba[3] = 0;
  const Bytes webp = testimg::make_webp_lossless(rgba.data(), 9, 7);
  image::DecodeInfo info;
  const Image img = decode(webp, &info);
  EXPECT_EQ(info.format, image::ImageFormat::kWebP);
  EXPECT_EQ(info.source_mode, "RGBA");
  ASSERT_EQ(img.width, 9);
  ASSERT_EQ(img.height, 7);
  for (int i = 0; i < 63; ++i)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(img.rgb[i * 3 + c], rgba[i * 4 + c]) << i;
}

TEST(ImageDecode, WebPLossyMatchesLibwebp) {
  const Bytes rgb = pattern(20, 12, 3, 10);
  uint8_t* out = nullptr;
  const size_t n = WebPEncodeRGB(rgb.data(), 20, 12, 60, 75.f, &out);
  ASSERT_GT(n, 0u);
  const Bytes webp(out, out + n);
  WebPFree(out);
  int w = 0, h = 0;
  uint8_t* ref = WebPDecodeRGB(webp.data(), webp.size(), &w, &h);
  ASSERT_NE(ref, nullptr);
  const Bytes expected(ref, ref + size_t(w) * h * 3);
  WebPFree(ref);
  image::DecodeInfo info;
  const Image img = decode(webp, &info);
  EXPECT_EQ(info.source_mode, "RGB");
  EXPECT_EQ(img.rgb, expected);
}

// ---- EXIF orientation in every container ---------------------------------------------------

Image stored_pattern() {
  Image img(5, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 5; ++x) {
      uint8_t* p = img.pixel(x, y);
      p[0] = static_cast<uint8_t>(40 * x);
      p[1] = static_cast<uint8_t>(80 * y);
      p[2] = static_cast<uint8_t>(10 * x + 100 * y);
    }
  return img;
}

TEST(ImageDecode, JpegExifOrientationIsApplied) {
  // Flat 8x8 blocks keep the JPEG round trip close to the source, but the test compares decoded
  // pixels only: rotate(decode without EXIF) == decode with EXIF.
  const Bytes px = pattern(24, 16, 3, 11);
  const Bytes jpg = testimg::make_jpeg(px.data(), 24, 16, 3, JCS_RGB, 90);
  const Image stored = decode(jpg);
  for (bool little : {false, true}) {
    for (int o : {3, 6, 8, 2, 5, 7, 4}) {
      const Bytes tagged = testimg::jpeg_with_exif(jpg, testimg::exif_tiff(o, little));
      image::DecodeInfo info;
      const Image viewed = decode(tagged, &info);
      EXPECT_EQ(info.exif_orientation, o);
      EXPECT_EQ(info.source_width, 24);
      EXPECT_EQ(viewed, image::apply_exif_orientation(stored, o)) << "orientation " << o;
      if (o == 6) {  // rotated 90 degrees clockwise: the stored bottom-left is now top-left
        ASSERT_EQ(viewed.width, 16);
        ASSERT_EQ(viewed.height, 24);
        EXPECT_EQ(0, std::memcmp(viewed.pixel(0, 0), stored.pixel(0, 15), 3));
        EXPECT_EQ(0, std::memcmp(viewed.pixel(15, 0), stored.pixel(0, 0), 3));
      }
      // Opt-out gives the stored pixels.
      EXPECT_EQ(decode(tagged, nullptr, /*exif=*/false), stored);
    }
  }
}

TEST(ImageDecode, PngExifOrientationIsApplied) {
  const Image src = stored_pattern();
  testimg::PngSpec s{src.width, src.height, PNG_COLOR_TYPE_RGB, 8, false, src.rgb};
  s.exif = testimg::exif_tiff(8, /*little_endian=*/true);
  image::DecodeInfo info;
  const Image viewed = decode(testimg::make_png(s), &info);
  EXPECT_EQ(info.exif_orientation, 8);
  EXPECT_EQ(viewed, image::apply_exif_orientation(src, 8));
}

TEST(ImageDecode, WebPExifOrientationIsApplied) {
  const Image src = stored_pattern();
  Bytes rgba;
  for (size_t i = 0; i < src.rgb.size(); i += 3)
    rgba.insert(rgba.end(), {src.rgb[i], src.rgb[i + 1], src.rgb[i + 2], 255});
  const Bytes simple = testimg::make_webp_lossless(rgba.data(), src.width, src.height);
  Bytes exif = {'E', 'x', 'i', 'f', 0, 0};
  const Bytes tiff = testimg::exif_tiff(3, /*little_endian=*/false);
  exif.insert(exif.end(), tiff.begin(), tiff.end());
  image::DecodeInfo info;
  const Image viewed = decode(testimg::webp_with_exif(simple, src.width, src.height, exif), &info);
  EXPECT_EQ(info.exif_orientation, 3);
  EXPECT_EQ(viewed, image::apply_exif_orientation(src, 3));
}

// ---- broken input ------------------------------------------------------------------------------

void expect_error(const Bytes& b, const std::string& what) {
  try {
    decode(b);
    ADD_FAILURE() << what << ": decoded without error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test-image"), std::string::npos) << e.what();
  }
}

TEST(ImageDecode, MissingAndEmptyFilesAreErrors) {
  const std::string dir = test::temp_dir("decode_missing");
  try {
    image::read_image(dir + "/does-not-exist.png");
    ADD_FAILURE() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does-not-exist.png"), std::string::npos);
  }
  testimg::write_file(dir + "/empty.png", {});
  try {
    image::read_image(dir + "/empty.png");
    ADD_FAILURE() << "no error for an empty file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty.png"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos);
  }
  EXPECT_THROW(image::read_image(dir), Error);  // a directory
}

TEST(ImageDecode, RandomBytesAreErrors) {
  std::mt19937 rng(12);
  for (int i = 0; i < 20; ++i) {
    Bytes b(1 + rng() % 300);
    for (auto& v : b) v = static_cast<uint8_t>(rng());
    expect_error(b, "random bytes");
    // The same garbage behind each format's magic.
    Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    png.insert(png.end(), b.begin(), b.end());
    expect_error(png, "PNG magic + garbage");
    Bytes jpg = {0xFF, 0xD8, 0xFF};
    jpg.insert(jpg.end(), b.begin(), b.end());
    expect_error(jpg, "JPEG magic + garbage");
    Bytes webp = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'};
    testimg::Bytes size;
    testimg::put_le(size, static_cast<uint32_t>(b.size() + 4), 4);
    std::copy(size.begin(), size.end(), webp.begin() + 4);
    webp.insert(webp.end(), b.begin(), b.end());
    expect_error(webp, "WebP magic + garbage");
  }
}

TEST(ImageDecode, TruncatedFilesAreErrors) {
  const Bytes px = pattern(40, 30, 3, 13);
  const Bytes png = testimg::make_png({40, 30, PNG_COLOR_TYPE_RGB, 8, false, px});
  const Bytes jpg = testimg::make_jpeg(px.data(), 40, 30, 3, JCS_RGB, 90);
  const Bytes pjpg = testimg::make_jpeg(px.data(), 40, 30, 3, JCS_RGB, 90, /*progressive=*/true);
  Bytes rgba;
  for (size_t i = 0; i < px.size(); i += 3)
    rgba.insert(rgba.end(), {px[i], px[i + 1], px[i + 2], 255});
  const Bytes webp = testimg::make_webp_lossless(rgba.data(), 40, 30);
  for (const auto& [name, file, tail_ok] :
       {std::tuple{"PNG", png, size_t(12)},  // IEND may be missing, as PIL allows
        std::tuple{"JPEG", jpg, size_t(2)},  // EOI may be missing, as PIL allows
        std::tuple{"progressive JPEG", pjpg, size_t(2)}, std::tuple{"WebP", webp, size_t(0)}}) {
    SCOPED_TRACE(name);
    ASSERT_NO_THROW(decode(file));
    for (size_t len = 1; len + tail_ok < file.size(); len += 1 + len / 8)
      expect_error(Bytes(file.begin(), file.begin() + len),
                   std::string(name) + " cut at " + std::to_string(len));
  }
}

TEST(ImageDecode, CorruptPngChecksumIsAnError) {
  const Bytes px = pattern(8, 8, 3, 14);
  Bytes png = testimg::make_png({8, 8, PNG_COLOR_TYPE_RGB, 8, false, px});
  png[png.size() - 20] ^= 0x55;  // inside the IDAT payload: CRC mismatch
  expect_error(png, "IDAT CRC");
}

TEST(ImageDecode, ZeroAndAbsurdDimensionsAreErrors) {
  expect_error(testimg::png_header_only(0, 10, 8, 2), "PNG width 0");
  expect_error(testimg::png_header_only(10, 0, 8, 2), "PNG height 0");
  try {
    decode(testimg::png_header_only(20000, 10, 8, 2));
    ADD_FAILURE() << "20000-wide PNG accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
  }
  // A JPEG whose SOF claims 30000 x 30000.
  const Bytes px = pattern(8, 8, 3, 15);
  Bytes jpg = testimg::make_jpeg(px.data(), 8, 8, 3, JCS_RGB);
  bool patched = false;
  for (size_t i = 2; i + 9 < jpg.size(); ++i) {
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
      jpg[i + 5] = 0x75, jpg[i + 6] = 0x30;  // height
      jpg[i + 7] = 0x75, jpg[i + 8] = 0x30;  // width
      patched = true;
      break;
    }
  }
  ASSERT_TRUE(patched);
  try {
    decode(jpg);
    ADD_FAILURE() << "30000x30000 JPEG accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
  }
  EXPECT_THROW(image::check_image_dimensions(16385, 1, "x"), Error);
  EXPECT_THROW(image::check_image_dimensions(0, 1, "x"), Error);
  EXPECT_NO_THROW(image::check_image_dimensions(16384, 16384, "x"));
}

}  // namespace
}  // namespace ipa
