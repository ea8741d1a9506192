// safetensors: round trips, sharded checkpoints, and corrupt / hostile files that must each end
// in an ipa::Error with a clear message, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "reader_test_util.h"
#include "test_support.h"
#include "torch_archive_builder.h"

namespace ipa {
namespace {

using test::Bytes;
using test::iota_floats;

// 8-byte little-endian header length, the header text, the data.
Bytes st_file(const std::string& header, const Bytes& data = {}) {
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i)
    len[i] = static_cast<char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  std::string all = len;
  all += header;
  all.append(data.begin(), data.end());
  return Bytes(all.begin(), all.end());
}

// Concatenation by appending (GCC 12 warns falsely on `"lit" + std::string` chains).
std::string cat(std::initializer_list<std::string> parts) {
  std::string s;
  for (const auto& p : parts) s += p;
  return s;
}

TensorFile parse(const Bytes& bytes) {
  return test::parse_copy(parse_safetensors, bytes, "test.safetensors");
}

// "no error" or the message parse() ends with.
std::string parse_error(const Bytes& bytes) {
  return test::parse_copy_error(parse_safetensors, bytes, "test.safetensors");
}

Bytes written_file() {
  const std::string path = test::temp_dir("safetensors_reader") + "/a.safetensors";
  Tensor a = Tensor::from_vector({2, 3}, iota_floats(6));
  Tensor b = Tensor::from_vector({3}, iota_floats(3, 10.f)).to(DType::F16);
  write_safetensors(path, {{"a", a}, {"b.t", a.transpose(0, 1)}, {"c", b}}, {{"format", "pt"}});
  return test::read_all(path);
}

TEST(SafetensorsReader, RoundTripWithMetadataAndStridedInput) {
  TensorFile f = parse(written_file());
  EXPECT_EQ(f.format, "safetensors");
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.find("a")->to_floats(), iota_floats(6));
  EXPECT_EQ(f.find("b.t")->shape(), (Shape{3, 2}));
  EXPECT_EQ(f.find("b.t")->to_floats(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(f.find("c")->dtype(), DType::F16);
  EXPECT_EQ(f.find("c")->to_floats(), iota_floats(3, 10.f));
}

// A header of 640 (= 0x280) bytes makes the file start 80 02, like a legacy PyTorch pickle: the
// format check must still see safetensors (the single-file goldens are such files).
TEST(SafetensorsReader, HeaderLengthThatLooksLikeAPickleMagic) {
  std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  header.resize(640, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  ASSERT_EQ(static_cast<unsigned char>(bytes[0]), 0x80);
  ASSERT_EQ(bytes[1], 2);
  const float v = 1.5f;
  bytes += header + std::string(reinterpret_cast<const char*>(&v), 4);
  const std::string path = test::temp_dir("st_640") + "/x.safetensors";
  std::ofstream(path, std::ios::binary) << bytes;
  const TensorFile f = load_tensor_file(path);
  ASSERT_NE(f.find("a"), nullptr);
  EXPECT_EQ(f.find("a")->to_floats()[0], 1.5f);
  // A real legacy pickle (no '{' after 8 bytes) is still refused with its own message.
  const std::string legacy = test::temp_dir("st_640") + "/old.bin";
  std::ofstream(legacy, std::ios::binary) << std::string("\x80\x02\x8a\x0alegacy-pickle", 16);
  EXPECT_TRUE(test::contains(test::error_of([&] { load_tensor_file(legacy); }), "legacy"));
}

TEST(SafetensorsReader, MisalignedDataIsCopiedAligned) {
  // Header of odd length: the data section starts at an odd address.
  const Bytes data = test::floats_bytes({1, 2, 3});
  TensorFile f =
      parse(st_file(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}} )", data));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.tensors.at(0).tensor.raw()) % 4, 0u);
  EXPECT_EQ(f.tensors.at(0).tensor.to_floats(), (std::vector<float>{1, 2, 3}));
}

TEST(SafetensorsReader, EmptyTensorsAndEmptyFile) {
  TensorFile f = parse(st_file(R"({"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]}})"));
  EXPECT_EQ(f.tensors.at(0).tensor.numel(), 0);
  EXPECT_TRUE(parse(st_file("{}")).tensors.empty());
}

TEST(SafetensorsReader, MalformedHeadersGiveClearErrors) {
  const Bytes d16 = test::floats_bytes({1, 2, 3, 4});
  struct Case {
    Bytes file;
    const char* fragment;
  };
  auto entry = [](const std::string& name, const std::string& body) {
    return cat({"{\"", name, "\":", body, "}"});
  };
  Bytes huge_len(8, 0xff);
  Bytes beyond = st_file("{}");
  beyond[0] = 200;  // header length 200, file has 2 bytes after the length
  const std::vector<Case> cases = {
      {Bytes{1, 2, 3}, "shorter than its 8-byte header length"},
      {huge_len, "exceeds 100 MiB"},
      {beyond, "truncated: header says 200 bytes, file has 2"},
      {st_file("[1,2]"), "header is not a JSON object"},
      {st_file("\"str\""), "header is not a JSON object"},
      {st_file("{\"a\":"), "malformed safetensors header JSON"},
      {st_file(std::string("{\"a\0\":1}", 8)), "malformed"},
      {st_file(entry("a", "1")), "tensor 'a': header entry is not an object"},
      {st_file(entry("a", R"({"shape":[1],"data_offsets":[0,4]})")), "no string 'dtype'"},
      {st_file(entry("a", R"({"dtype":"Q4","shape":[1],"data_offsets":[0,4]})"), d16),
       "unsupported dtype 'Q4'"},
      {st_file(entry("a", R"({"dtype":"F64","shape":[2],"data_offsets":[0,16]})"), d16),
       "unsupported dtype 'F64'"},
      {st_file(entry("a", R"({"dtype":"F32","data_offsets":[0,4]})"), d16), "no 'shape' array"},
      {st_file(entry("a", R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), d16),
       "non-integer or negative"},
      {st_file(entry("a", R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})"), d16),
       "non-integer or negative"},
      {st_file(
           entry(
               "a",
               R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]})"),
           d16),
       "rank above 16"},
      {st_file(entry("a", R"({"dtype":"F32","shape":[1],"data_offsets":[0]})"), d16),
       "'data_offsets' must be two non-negative integers"},
      {st_file(entry("a", R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})"), d16),
       "'data_offsets' must be two non-negative integers"},
      {st_file(entry("a", R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})"), d16),
       "data_offsets [8, 4) outside the data section of 16 bytes"},
      {st_file(entry("a", R"({"dtype":"F32","shape":[5],"data_offsets":[0,20]})"), d16),
       "data_offsets [0, 20) outside the data section"},
      {st_file(entry("a", R"({"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]})"),
               d16),
       "outside the data section"},
      {st_file(entry("a", R"({"dtype":"F32","shape":[3],"data_offsets":[0,16]})"), d16),
       "byte size 16 does not match F32[3]"},
      {st_file(
           entry("a", R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]})"),
           d16),
       "shape overflows"},
      // Empty, yet its sizes multiply past int64: tensor code would overflow computing strides.
      {st_file(entry(
           "a",
           R"({"dtype":"F32","shape":[0,4611686018427387904,4611686018427387904],"data_offsets":[0,0]})")),
       "shape overflows"},
      {st_file(R"({"__metadata__":[1]})"), "__metadata__ is not an object"},
      {st_file(R"({"__metadata__":{"k":1}})"), "tensor 'k': __metadata__ value is not a string"},
  };
  for (const auto& c : cases) {
    const std::string err = parse_error(c.file);
    EXPECT_NE(err.find(c.fragment), std::string::npos)
        << "expected '" << c.fragment << "', got: " << err;
    EXPECT_NE(err.find("test.safetensors"), std::string::npos) << err;
  }
}

TEST(SafetensorsReader, OverlappingDataIsRefused) {
  const Bytes d = test::floats_bytes(iota_floats(32));
  const char* a = R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})";
  const char* b = R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]})";
  EXPECT_NE(parse_error(st_file(cat({"{", a, ",", b, "}"}), d)).find("overlap"), std::string::npos);
  // An empty tensor between two overlapping ones must not hide the overlap.
  const char* big = R"("big":{"dtype":"F32","shape":[25],"data_offsets":[0,100]})";
  const char* empty = R"("empty":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
  const char* inner = R"("inner":{"dtype":"F32","shape":[2],"data_offsets":[50,58]})";
  for (const std::string& order :
       {cat({big, ",", empty, ",", inner}), cat({empty, ",", big, ",", inner}),
        cat({inner, ",", empty, ",", big})}) {
    const std::string err = parse_error(st_file(cat({"{", order, "}"}), d));
    EXPECT_NE(err.find("overlap"), std::string::npos) << order << ": " << err;
  }
  // A tensor nested inside a larger one, with a later tensor after both.
  const char* later = R"("later":{"dtype":"F32","shape":[1],"data_offsets":[120,124]})";
  EXPECT_NE(parse_error(st_file(cat({"{", big, ",", inner, ",", later, "}"}), d)).find("overlap"),
            std::string::npos);
  // Empty tensors anywhere, and touching neighbours, are fine.
  const char* next = R"("next":{"dtype":"F32","shape":[1],"data_offsets":[100,104]})";
  const char* empty_mid = R"("empty_mid":{"dtype":"F32","shape":[0],"data_offsets":[50,50]})";
  EXPECT_EQ(parse_error(st_file(cat({"{", big, ",", next, ",", empty_mid, "}"}), d)), "no error");
}

TEST(SafetensorsReader, TruncatedAtEveryCutPoint) {
  const Bytes whole = written_file();
  ASSERT_EQ(parse(whole).tensors.size(), 3u);
  test::expect_every_truncation_fails(parse_safetensors, whole, "test.safetensors");
}

TEST(SafetensorsReader, FlippedBytesNeverCrash) {
  const Bytes whole = written_file();
  const size_t errors =
      test::flipped_byte_errors(parse_safetensors, whole, {0x01, 0x20, 0x80}, "test.safetensors");
  EXPECT_GT(errors, whole.size());  // most header bytes matter; data bytes do not
}

// ---------------------------------------------------------------- sharded

struct ShardedDir {
  std::string dir;
  std::string index;
};

ShardedDir make_sharded(const std::string& tag, const std::string& weight_map) {
  ShardedDir s{test::temp_dir(tag), ""};
  write_safetensors(s.dir + "/model-00001-of-00002.safetensors",
                    {{"a", Tensor::from_vector({2}, {1, 2})}, {"b", Tensor::from_vector({1}, {3})}},
                    {{"format", "pt"}});
  write_safetensors(s.dir + "/model-00002-of-00002.safetensors",
                    {{"c", Tensor::from_vector({3}, {4, 5, 6})}});
  s.index = s.dir + "/model.safetensors.index.json";
  std::ofstream(s.index) << R"({"metadata":{"total_size":24},"weight_map":)" << weight_map << "}";
  return s;
}

const char* kWeightMap =
    R"({"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",)"
    R"("c":"model-00002-of-00002.safetensors"})";

TEST(SafetensorsSharded, ReadsEveryShard) {
  const ShardedDir s = make_sharded("st_sharded_ok", kWeightMap);
  for (const TensorFile& f : {read_safetensors_sharded(s.index), load_tensor_file(s.index)}) {
    EXPECT_EQ(f.format, "safetensors-sharded");
    ASSERT_EQ(f.tensors.size(), 3u);
    EXPECT_EQ(f.find("a")->to_floats(), (std::vector<float>{1, 2}));
    EXPECT_EQ(f.find("b")->to_floats(), (std::vector<float>{3}));
    EXPECT_EQ(f.find("c")->to_floats(), (std::vector<float>{4, 5, 6}));
    EXPECT_EQ(f.metadata.at("format"), "pt");
  }
}

std::string sharded_error(const std::string& index) {
  try {
    read_safetensors_sharded(index);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(SafetensorsSharded, BrokenIndexOrShards) {
  {
    const ShardedDir s = make_sharded("st_sharded_missing", kWeightMap);
    std::filesystem::remove(s.dir + "/model-00002-of-00002.safetensors");
    const std::string err = sharded_error(s.index);
    EXPECT_NE(err.find("model-00002-of-00002.safetensors: cannot open"), std::string::npos) << err;
  }
  {
    const ShardedDir s = make_sharded(
        "st_sharded_absent",
        R"({"a":"model-00001-of-00002.safetensors","z":"model-00001-of-00002.safetensors"})");
    const std::string err = sharded_error(s.index);
    EXPECT_NE(
        err.find("tensor 'z': listed in the shard index but missing from model-00001-of-00002"),
        std::string::npos)
        << err;
  }
  {
    const ShardedDir s = make_sharded("st_sharded_escape", R"({"a":"../model.safetensors"})");
    EXPECT_NE(sharded_error(s.index).find("leaves the folder"), std::string::npos);
  }
  {
    const ShardedDir s = make_sharded("st_sharded_nomap", R"([1])");
    EXPECT_NE(sharded_error(s.index).find("no 'weight_map' object"), std::string::npos);
  }
  {
    const ShardedDir s = make_sharded("st_sharded_value", R"({"a":5})");
    EXPECT_NE(sharded_error(s.index).find("weight_map value is not a string"), std::string::npos);
  }
  {
    const ShardedDir s = make_sharded("st_sharded_json", kWeightMap);
    std::ofstream(s.index) << "{\"weight_map\": {";
    EXPECT_NE(sharded_error(s.index).find("malformed shard index JSON"), std::string::npos);
  }
  {
    const ShardedDir s = make_sharded("st_sharded_corrupt", kWeightMap);
    std::ofstream(s.dir + "/model-00002-of-00002.safetensors") << "garbage!";
    const std::string err = sharded_error(s.index);
    EXPECT_NE(err.find("model-00002-of-00002.safetensors"), std::string::npos) << err;
  }
  EXPECT_NE(sharded_error(test::temp_dir("st_sharded_none") + "/x.index.json").find("cannot open"),
            std::string::npos);
}

}  // namespace
}  // namespace ipa
