// EXIF orientation parsing (bounds-checked on any input) and the viewing transform.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "image/exif.h"
#include "image_test_files.h"

namespace ipa {
namespace {

using image::Image;
using testimg::Bytes;

TEST(Exif, ReadsOrientationInBothByteOrdersAndTypes) {
  for (bool little : {false, true}) {
    for (int o = 1; o <= 8; ++o) {
      const Bytes tiff = testimg::exif_tiff(o, little);
      EXPECT_EQ(image::exif_orientation(tiff.data(), tiff.size()), o);
      Bytes with_header = {'E', 'x', 'i', 'f', 0, 0};
      with_header.insert(with_header.end(), tiff.begin(), tiff.end());
      EXPECT_EQ(image::exif_orientation(with_header.data(), with_header.size()), o);
      const Bytes as_long = testimg::exif_tiff(o, little, /*type=*/4);
      EXPECT_EQ(image::exif_orientation(as_long.data(), as_long.size()), o);
    }
  }
}

TEST(Exif, IgnoresInvalidOrientation) {
  for (int o : {0, 9, 300}) {
    const Bytes tiff = testimg::exif_tiff(o, true);
    EXPECT_EQ(image::exif_orientation(tiff.data(), tiff.size()), 0) << o;
  }
  const Bytes pair = testimg::exif_tiff(6, true, 3, /*count=*/2);
  EXPECT_EQ(image::exif_orientation(pair.data(), pair.size()), 0);
  const Bytes ascii = testimg::exif_tiff(6, true, /*type=*/2);
  EXPECT_EQ(image::exif_orientation(ascii.data(), ascii.size()), 0);
  Bytes bad_magic = testimg::exif_tiff(6, true);
  bad_magic[2] = 43;
  EXPECT_EQ(image::exif_orientation(bad_magic.data(), bad_magic.size()), 0);
}

TEST(Exif, NeverReadsPastTheEnd) {
  // Every truncation of a valid block, and random bytes behind a valid header.
  const Bytes tiff = testimg::exif_tiff(6, false);
  for (size_t n = 0; n < tiff.size(); ++n) {
    const Bytes cut(tiff.begin(), tiff.begin() + n);  // exact-size heap copy for ASan
    const int o = image::exif_orientation(cut.data(), cut.size());
    EXPECT_TRUE(o == 0 || (n >= 30 && o == 6)) << n;
  }
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    Bytes b = {'M', 'M', 0, 42};
    b.resize(4 + rng() % 64);
    for (size_t k = 4; k < b.size(); ++k) b[k] = static_cast<uint8_t>(rng() % 4 == 0 ? 0 : rng());
    const int o = image::exif_orientation(b.data(), b.size());
    EXPECT_TRUE(o >= 0 && o <= 8);
  }
}

// Where EXIF says the stored row 0 / column 0 go, written as a forward map (stored pixel (x, y)
// lands at viewed (vx, vy)), independently of the implementation's gather form.
void viewed_position(int o, int x, int y, int w, int h, int* vx, int* vy) {
  switch (o) {
    case 1:
      *vx = x, *vy = y;
      break;  // row 0 top, column 0 left
    case 2:
      *vx = w - 1 - x, *vy = y;
      break;  // row 0 top, column 0 right
    case 3:
      *vx = w - 1 - x, *vy = h - 1 - y;
      break;  // row 0 bottom, column 0 right
    case 4:
      *vx = x, *vy = h - 1 - y;
      break;  // row 0 bottom, column 0 left
    case 5:
      *vx = y, *vy = x;
      break;  // row 0 left, column 0 top
    case 6:
      *vx = h - 1 - y, *vy = x;
      break;  // row 0 right, column 0 top
    case 7:
      *vx = h - 1 - y, *vy = w - 1 - x;
      break;  // row 0 right, column 0 bottom
    case 8:
      *vx = y, *vy = w - 1 - x;
      break;  // row 0 left, column 0 bottom
  }
}

TEST(Exif, OrientationTransformsMatchTheirMeaning) {
  Image stored(4, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) {
      uint8_t* p = stored.pixel(x, y);
      p[0] = uint8_t(x), p[1] = uint8_t(y), p[2] = uint8_t(10 * y + x);
    }
  for (int o = 1; o <= 8; ++o) {
    SCOPED_TRACE(o);
    const Image viewed = image::apply_exif_orientation(stored, o);
    ASSERT_EQ(viewed.width, o >= 5 ? 3 : 4);
    ASSERT_EQ(viewed.height, o >= 5 ? 4 : 3);
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) {
        int vx = 0, vy = 0;
        viewed_position(o, x, y, 4, 3, &vx, &vy);
        EXPECT_EQ(0, std::memcmp(viewed.pixel(vx, vy), stored.pixel(x, y), 3)) << x << "," << y;
      }
  }
  // 6 is "rotate 90 degrees clockwise": the stored top-left ends up top-right.
  const Image cw = image::apply_exif_orientation(stored, 6);
  EXPECT_EQ(0, std::memcmp(cw.pixel(2, 0), stored.pixel(0, 0), 3));
  EXPECT_EQ(image::apply_exif_orientation(stored, 0), stored);
  EXPECT_EQ(image::apply_exif_orientation(stored, 9), stored);
}

}  // namespace
}  // namespace ipa
