// PNG writing: pixels round-trip through our decoder; text chunks are stored as tEXt (Latin-1)
// or iTXt (anything else) and read back byte for byte.
#include <gtest/gtest.h>

#include <random>

#include "image/decode.h"
#include "image/encode_png.h"
#include "test_support.h"

namespace ipa {
namespace {

using image::Image;

struct Chunk {
  std::string type;
  std::string data;
};

std::vector<Chunk> chunks(const std::vector<uint8_t>& png) {
  std::vector<Chunk> out;
  for (size_t pos = 8; pos + 12 <= png.size();) {
    const uint32_t len = uint32_t(png[pos]) << 24 | uint32_t(png[pos + 1]) << 16 |
                         uint32_t(png[pos + 2]) << 8 | png[pos + 3];
    out.push_back({std::string(png.begin() + pos + 4, png.begin() + pos + 8),
                   std::string(png.begin() + pos + 8, png.begin() + pos + 8 + len)});
    pos += 12 + len;
  }
  return out;
}

Image noise(int w, int h) {
  std::mt19937 rng(3);
  Image img(w, h);
  for (auto& v : img.rgb) v = static_cast<uint8_t>(rng());
  return img;
}

TEST(EncodePng, RoundTripsPixels) {
  const Image img = noise(31, 17);
  for (int level : {0, 6, 9}) {
    const std::vector<uint8_t> png = image::encode_png(img, {}, level);
    image::DecodeInfo info;
    EXPECT_EQ(image::decode_image(png.data(), png.size(), "mem", {}, &info), img);
    EXPECT_EQ(info.source_mode, "RGB");
  }
}

TEST(EncodePng, TextChunks) {
  const std::string ascii = "a cat, best quality\nNegative prompt: blurry\nSteps: 30, Seed: 42";
  const std::string latin1_utf8 = "caf\xC3\xA9 cr\xC3\xA8me";  // "café crème"
  const std::string cjk = "\xE7\x8C\xAB";                      // U+732B
  const std::vector<uint8_t> png = image::encode_png(
      noise(4, 4), {{"parameters", ascii}, {"Comment", latin1_utf8}, {"Title", cjk}});
  std::vector<Chunk> text;
  for (const Chunk& c : chunks(png))
    if (c.type == "tEXt" || c.type == "iTXt") text.push_back(c);
  ASSERT_EQ(text.size(), 3u);
  EXPECT_EQ(text[0].type, "tEXt");
  EXPECT_EQ(text[0].data, std::string("parameters") + '\0' + ascii);
  EXPECT_EQ(text[1].type, "tEXt");
  EXPECT_EQ(text[1].data, std::string("Comment") + '\0' + "caf\xE9 cr\xE8me");  // Latin-1 bytes
  EXPECT_EQ(text[2].type, "iTXt");
  // keyword NUL, compression flag 0, method 0, empty language NUL, empty translated key NUL.
  EXPECT_EQ(text[2].data, std::string("Title") + '\0' + '\0' + '\0' + '\0' + '\0' + cjk);
  // And the file still decodes.
  EXPECT_EQ(image::decode_image(png.data(), png.size(), "mem"), noise(4, 4));
}

TEST(EncodePng, RejectsBadInput) {
  const Image img = noise(2, 2);
  EXPECT_THROW(image::encode_png(img, {{"", "x"}}), Error);
  EXPECT_THROW(image::encode_png(img, {{std::string(80, 'k'), "x"}}), Error);
  EXPECT_THROW(image::encode_png(img, {{" lead", "x"}}), Error);
  EXPECT_THROW(image::encode_png(img, {{"a  b", "x"}}), Error);
  EXPECT_THROW(image::encode_png(img, {{"key", "bad \xC3"}}), Error);
  EXPECT_THROW(image::encode_png(img, {{"key", std::string("nul\0here", 8)}}), Error);
  EXPECT_THROW(image::encode_png(img, {}, 10), Error);
  EXPECT_THROW(image::encode_png(Image(), {}), Error);
  Image short_buffer(3, 3);
  short_buffer.rgb.resize(5);
  EXPECT_THROW(image::encode_png(short_buffer), Error);
}

TEST(EncodePng, WritesFiles) {
  const std::string dir = test::temp_dir("encode_png");
  const Image img = noise(8, 3);
  image::write_png(dir + "/out.png", img, {{"parameters", "x"}});
  EXPECT_EQ(image::read_image(dir + "/out.png"), img);
  EXPECT_THROW(image::write_png(dir + "/no/such/dir/out.png", img), Error);
}

}  // namespace
}  // namespace ipa
