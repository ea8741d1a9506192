// PyTorch zip checkpoints: hand-built archives (minizip writer + hand-assembled pickles) for
// the accepted subset, and corrupt / hostile inputs that must each end in an ipa::Error with a
// clear message, never a crash, hang or huge allocation.
#include <gtest/gtest.h>

#include "formats/pickle.h"
#include "formats/pytorch.h"
#include "formats/state_dict.h"
#include "formats/zip_archive.h"
#include "reader_test_util.h"
#include "test_support.h"
#include "torch_archive_builder.h"

namespace ipa {
namespace {

using namespace std::string_literals;

using test::Bytes;
using test::iota_floats;
using test::PickleWriter;
using test::ZipItem;

TensorFile parse(const Bytes& bytes) {
  return test::parse_copy(parse_pytorch, bytes, "test.bin");
}

// "no error" or the message parse() ends with.
std::string parse_error(const Bytes& bytes) {
  return test::parse_copy_error(parse_pytorch, bytes, "test.bin");
}

std::string unpickle_error(const Bytes& bytes, const pickle::Limits& limits = {}) {
  try {
    pickle::Document doc = pickle::unpickle(bytes.data(), bytes.size(), "test.pkl", limits);
    flatten_state_dict(*doc.root(), "test.pkl");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

Bytes zip_bytes(const std::vector<ZipItem>& items) {
  return test::write_zip(test::temp_dir("pytorch_reader") + "/a.bin", items);
}

// {"image_proj": {"proj.weight": W[2,3]}, "ip_adapter": {"1.to_k_ip.weight": K[3]}}
Bytes nested_pickle() {
  PickleWriter p;
  p.proto().empty_dict().put(0).mark();
  p.str("image_proj").empty_dict().mark();
  p.str("proj.weight").tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1});
  p.setitems();
  p.str("ip_adapter").empty_dict().mark();
  p.str("1.to_k_ip.weight").tensor("FloatStorage", "1", 3, 0, {3}, {1});
  p.setitems();
  p.setitems().stop();
  return p.bytes();
}

Bytes nested_archive(const std::string& top = "ip-adapter_basic") {
  return zip_bytes(test::torch_items(top, nested_pickle(),
                                     {{"0", test::floats_bytes(iota_floats(6))},
                                      {"1", test::floats_bytes(iota_floats(3, 10.f))}}));
}

// A one-tensor state dict {"t": tensor} around an arbitrary tensor call.
Bytes one_tensor_pickle(const std::string& type, const std::string& key, int64_t numel,
                        int64_t offset, const std::vector<int64_t>& size,
                        const std::vector<int64_t>& stride) {
  PickleWriter p;
  p.proto().empty_dict().mark().str("t").tensor(type, key, numel, offset, size, stride);
  p.setitems().stop();
  return p.bytes();
}

// ---------------------------------------------------------------- accepted input

TEST(PytorchReader, NestedDictsFlattenToDottedNames) {
  TensorFile f = parse(nested_archive());
  EXPECT_EQ(f.format, "pytorch-zip");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].name, "image_proj.proj.weight");
  EXPECT_EQ(f.tensors[1].name, "ip_adapter.1.to_k_ip.weight");
  const Tensor& w = f.tensors[0].tensor;
  EXPECT_EQ(w.dtype(), DType::F32);
  EXPECT_EQ(w.shape(), (Shape{2, 3}));
  EXPECT_EQ(w.to_floats(), iota_floats(6));
  EXPECT_EQ(f.tensors[1].tensor.to_floats(), iota_floats(3, 10.f));
}

TEST(PytorchReader, ReadsFromFileAndAnyTopFolderName) {
  const std::string path = test::temp_dir("pytorch_reader_file") + "/x.bin";
  test::write_all(path, nested_archive("some other name"));
  TensorFile f = load_tensor_file(path);
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].tensor.to_floats(), iota_floats(6));
  // And without any top folder.
  TensorFile g = parse(zip_bytes({{"data.pkl", nested_pickle()},
                                  {"data/0", test::floats_bytes(iota_floats(6))},
                                  {"data/1", test::floats_bytes(iota_floats(3))}}));
  EXPECT_EQ(g.tensors.size(), 2u);
}

TEST(PytorchReader, StoredEntriesAreZeroCopyViews) {
  auto copy = std::make_shared<Bytes>(nested_archive());
  TensorFile f = parse_pytorch(std::shared_ptr<const void>(copy, copy->data()), copy->data(),
                               copy->size(), "test.bin");
  for (const auto& nt : f.tensors) {
    const auto* p = static_cast<const uint8_t*>(nt.tensor.raw());
    EXPECT_TRUE(p >= copy->data() && p < copy->data() + copy->size()) << nt.name;
  }
}

TEST(PytorchReader, NonContiguousViewWithStorageOffset) {
  // Storage 0..11; the tensor is storage[1:7].view(3, 2).t(): size (2, 3), stride (1, 2).
  Bytes pkl = one_tensor_pickle("FloatStorage", "0", 12, 1, {2, 3}, {1, 2});
  TensorFile f =
      parse(zip_bytes(test::torch_items("a", pkl, {{"0", test::floats_bytes(iota_floats(12))}})));
  const Tensor& t = f.tensors.at(0).tensor;
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.to_floats(), (std::vector<float>{1, 3, 5, 2, 4, 6}));
  EXPECT_EQ(t.contiguous().to_floats(), (std::vector<float>{1, 3, 5, 2, 4, 6}));
}

TEST(PytorchReader, ExpandedViewWithZeroStride) {
  // torch.arange(3).expand(2, 3), as transformers' position_ids buffers are saved.
  Bytes pkl = one_tensor_pickle("LongStorage", "0", 3, 0, {2, 3}, {0, 1});
  const int64_t v[3] = {0, 1, 2};
  Bytes data(reinterpret_cast<const uint8_t*>(v), reinterpret_cast<const uint8_t*>(v) + 24);
  TensorFile f = parse(zip_bytes(test::torch_items("a", pkl, {{"0", data}})));
  EXPECT_EQ(f.tensors.at(0).tensor.to_floats(), (std::vector<float>{0, 1, 2, 0, 1, 2}));
}

TEST(PytorchReader, TensorsSharingOneStorage) {
  PickleWriter p;
  p.proto().empty_dict().mark();
  p.str("a").tensor("FloatStorage", "0", 8, 0, {4}, {1});
  p.str("b").tensor("FloatStorage", "0", 8, 4, {2, 2}, {2, 1});
  p.setitems().stop();
  TensorFile f = parse(
      zip_bytes(test::torch_items("a", p.bytes(), {{"0", test::floats_bytes(iota_floats(8))}})));
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].tensor.to_floats(), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(f.tensors[1].tensor.to_floats(), (std::vector<float>{4, 5, 6, 7}));
}

TEST(PytorchReader, Zip64Archive) {
  // ZIP64 end records (as a checkpoint over 4 GB has) and ZIP64 extra fields on every entry.
  auto items = test::torch_items(
      "a", nested_pickle(),
      {{"0", test::floats_bytes(iota_floats(6))}, {"1", test::floats_bytes(iota_floats(3, 10.f))}});
  for (auto& it : items) it.zip64 = true;
  const Bytes z = test::with_zip64_end(zip_bytes(items));
  auto copy = std::make_shared<Bytes>(z);
  TensorFile f = parse_pytorch(std::shared_ptr<const void>(copy, copy->data()), copy->data(),
                               copy->size(), "test.bin");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].tensor.to_floats(), iota_floats(6));
  EXPECT_EQ(f.tensors[1].tensor.to_floats(), iota_floats(3, 10.f));
  const auto* p = static_cast<const uint8_t*>(f.tensors[0].tensor.raw());
  EXPECT_TRUE(p >= copy->data() && p < copy->data() + copy->size()) << "not zero-copy";
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, reinterpret_cast<uintptr_t>(copy->data()) % 64)
      << "data not where the ZIP64 local header says";
  // A broken ZIP64 record is an error, not a guess.
  Bytes broken = z;
  broken[broken.size() - 22 - 20 - 56] ^= 0xff;  // the record's signature
  EXPECT_NE(parse_error(broken).find("not a readable zip"), std::string::npos);
}

TEST(PytorchReader, DeflatedEntriesInflate) {
  auto items = test::torch_items(
      "a", nested_pickle(),
      {{"0", test::floats_bytes(iota_floats(6))}, {"1", test::floats_bytes(iota_floats(3, 10.f))}});
  for (auto& it : items) it.deflate = true;
  TensorFile f = parse(zip_bytes(items));
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].tensor.to_floats(), iota_floats(6));
  EXPECT_EQ(f.tensors[1].tensor.to_floats(), iota_floats(3, 10.f));
}

TEST(PytorchReader, MisalignedStorageIsCopied) {
  auto items = test::torch_items(
      "a", nested_pickle(),
      {{"0", test::floats_bytes(iota_floats(6))}, {"1", test::floats_bytes(iota_floats(3, 10.f))}});
  for (auto& it : items) it.align64 = false;
  items.insert(items.begin(), ZipItem{"a/odd", {1}, false, false});  // shifts everything by 1
  TensorFile f = parse(zip_bytes(items));
  for (const auto& nt : f.tensors) EXPECT_EQ(reinterpret_cast<uintptr_t>(nt.tensor.raw()) % 4, 0u);
  EXPECT_EQ(f.tensors[0].tensor.to_floats(), iota_floats(6));
}

TEST(PytorchReader, StorageTypes) {
  struct Case {
    const char* type;
    Bytes data;
    DType dtype;
    std::vector<float> values;
  };
  const double d[2] = {1.5, -2.25};
  const int64_t l[2] = {7, -9};
  const int16_t s[2] = {300, -5};
  const uint16_t h[2] = {0x3C00, 0xC000};   // 1, -2
  const uint16_t bf[2] = {0x3F80, 0x4040};  // 1, 3
  auto raw = [](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    return Bytes(b, b + n);
  };
  const std::vector<Case> cases = {
      {"DoubleStorage", raw(d, 16), DType::F32, {1.5f, -2.25f}},
      {"LongStorage", raw(l, 16), DType::I64, {7, -9}},
      {"ShortStorage", raw(s, 4), DType::I32, {300, -5}},
      {"CharStorage", Bytes{0x05, 0xFB}, DType::I32, {5, -5}},
      {"HalfStorage", raw(h, 4), DType::F16, {1, -2}},
      {"BFloat16Storage", raw(bf, 4), DType::BF16, {1, 3}},
      {"ByteStorage", Bytes{200, 3}, DType::U8, {200, 3}},
      {"BoolStorage", Bytes{1, 0}, DType::Bool, {1, 0}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.type);
    Bytes pkl = one_tensor_pickle(c.type, "0", 2, 0, {2}, {1});
    TensorFile f = parse(zip_bytes(test::torch_items("a", pkl, {{"0", c.data}})));
    EXPECT_EQ(f.tensors.at(0).tensor.dtype(), c.dtype);
    EXPECT_EQ(f.tensors.at(0).tensor.to_floats(), c.values);
  }
}

TEST(PytorchReader, OrderedDictWithMetadataParameterAndProtocol4Opcodes) {
  // OrderedDict() via REDUCE with a BUILD of `_metadata` (as torch writes for state_dict()),
  // _rebuild_parameter, and protocol-4 opcodes (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL).
  PickleWriter p;
  p.proto(4).op(0x95).le(0, 8);  // an (ignored) frame header
  p.global("collections", "OrderedDict").empty_tuple().reduce().op(0x94);
  p.mark();
  p.short_str("w").op(0x94);
  p.short_str("torch._utils").short_str("_rebuild_parameter").op(0x93);
  p.tensor("FloatStorage", "0", 4, 0, {4}, {1});
  p.boolean(true).global("collections", "OrderedDict").empty_tuple().reduce().tuple_n(3).reduce();
  p.setitems();
  p.empty_dict().mark().str("_metadata").empty_dict().setitems().build();
  p.stop();
  TensorFile f = parse(
      zip_bytes(test::torch_items("a", p.bytes(), {{"0", test::floats_bytes(iota_floats(4))}})));
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors[0].name, "w");
  EXPECT_EQ(f.tensors[0].tensor.to_floats(), iota_floats(4));
}

// Archives written by Python's own pickler and zipfile (tests/fuzz/make_seeds.py): protocols 2,
// 4 and 5, deflated entries, byteorder, views, _rebuild_parameter, OrderedDict._metadata.
TEST(PytorchReader, ArchivesFromPythonsPickler) {
  const std::string dir = std::string(IPA_SOURCE_DIR) + "/tests/fuzz/corpus/fuzz_pytorch/";
  for (const char* name : {"views_p2.bin", "views_p4_deflated.bin"}) {
    SCOPED_TRACE(name);
    TensorFile f = read_pytorch(dir + name);
    ASSERT_EQ(f.tensors.size(), 5u);
    EXPECT_EQ(f.find("image_proj.proj.weight")->to_floats(),
              (std::vector<float>{1, 3, 5, 2, 4, 6}));
    EXPECT_EQ(f.find("image_proj.proj.bias")->to_floats(), (std::vector<float>{0, 1, 2, 3}));
    EXPECT_EQ(f.find("image_proj.norm.weight")->dtype(), DType::F16);
    EXPECT_EQ(f.find("image_proj.norm.weight")->to_floats(), (std::vector<float>{1, -2, 0.5f, 3}));
    EXPECT_EQ(f.find("image_proj.position_ids")->dtype(), DType::I64);
    EXPECT_EQ(f.find("image_proj.position_ids")->to_floats(),
              (std::vector<float>{0, 1, 2, 0, 1, 2}));
    EXPECT_EQ(f.find("ip_adapter.1.to_k_ip.weight")->to_floats(), (std::vector<float>{4, 5, 6, 7}));
  }
  TensorFile d = read_pytorch(dir + "double.bin");
  EXPECT_EQ(d.tensors.at(0).tensor.dtype(), DType::F32);
  EXPECT_EQ(d.tensors.at(0).tensor.to_floats(), (std::vector<float>{1.5f, -2.f}));
  for (const char* name : {"views_p2.pkl", "views_p4.pkl", "views_p5.pkl"}) {
    SCOPED_TRACE(name);
    const Bytes pkl =
        test::read_all(std::string(IPA_SOURCE_DIR) + "/tests/fuzz/corpus/fuzz_pickle/" + name);
    pickle::Document doc = pickle::unpickle(pkl.data(), pkl.size(), name);
    EXPECT_EQ(flatten_state_dict(*doc.root(), name).size(), 5u);
  }
}

TEST(PytorchReader, ScalarsBesideTensorsAreSkipped) {
  // A Lightning-style checkpoint: {"state_dict": {...}, "global_step": 5, "epoch": None}.
  PickleWriter p;
  p.proto().empty_dict().mark();
  p.str("global_step").integer(5);
  p.str("state_dict")
      .empty_dict()
      .mark()
      .str("w")
      .tensor("FloatStorage", "0", 2, 0, {2}, {1})
      .setitems();
  p.str("epoch").none();
  p.setitems().stop();
  TensorFile f =
      parse(zip_bytes(test::torch_items("a", p.bytes(), {{"0", test::floats_bytes({1, 2})}})));
  ASSERT_EQ(f.tensors.size(), 1u);
  EXPECT_EQ(f.tensors[0].name, "state_dict.w");
}

TEST(PytorchReader, ByteorderLittleAcceptedBigRejected) {
  auto items = test::torch_items(
      "a", nested_pickle(),
      {{"0", test::floats_bytes(iota_floats(6))}, {"1", test::floats_bytes(iota_floats(3))}});
  items.push_back({"a/byteorder", test::to_bytes("little")});
  EXPECT_EQ(parse(zip_bytes(items)).tensors.size(), 2u);
  items.back().data = test::to_bytes("big");
  EXPECT_NE(parse_error(zip_bytes(items)).find("big-endian"), std::string::npos);
  items.back().data = test::to_bytes("middle");
  EXPECT_NE(parse_error(zip_bytes(items)).find("unknown byteorder"), std::string::npos);
}

// ---------------------------------------------------------------- hostile pickles

TEST(PytorchReader, ForeignGlobalsAreRefusedByName) {
  struct Case {
    Bytes pickle;
    const char* fragment;
  };
  PickleWriter os_system;  // the classic: os.system("...")
  os_system.proto().global("os", "system").str("echo pwned").tuple_n(1).reduce().stop();
  PickleWriter eval;
  eval.proto().global("__builtin__", "eval").str("1").tuple_n(1).reduce().stop();
  PickleWriter getattr;  // via STACK_GLOBAL (protocol 4)
  getattr.proto(4).short_str("builtins").short_str("getattr").op(0x93).stop();
  PickleWriter nested;  // hidden inside an otherwise fine state dict
  nested.proto().empty_dict().mark().str("t").global("torch", "load").setitems().stop();
  PickleWriter tensor_fn;  // a torch global that is not on the list
  tensor_fn.proto().global("torch._utils", "_rebuild_from_type_v2").stop();
  const std::vector<Case> cases = {{os_system.bytes(), "'os.system'"},
                                   {eval.bytes(), "'__builtin__.eval'"},
                                   {getattr.bytes(), "'builtins.getattr'"},
                                   {nested.bytes(), "'torch.load'"},
                                   {tensor_fn.bytes(), "'torch._utils._rebuild_from_type_v2'"}};
  for (const auto& c : cases) {
    const std::string err = parse_error(zip_bytes(test::torch_items("a", c.pickle, {})));
    EXPECT_NE(err.find(c.fragment), std::string::npos) << err;
    EXPECT_NE(err.find("not allowed"), std::string::npos) << err;
    EXPECT_NE(err.find("test.bin"), std::string::npos) << err;
  }
  // The raw GLOBAL text from the brief: "cos\nsystem\n".
  Bytes raw = test::to_bytes(
      "\x80\x02"s
      "cos\nsystem\n"s
      "X\x02\x00\x00\x00"s
      "ls\x85R."s);
  EXPECT_NE(unpickle_error(raw).find("'os.system' is not allowed"), std::string::npos);
}

TEST(PytorchReader, MalformedPicklesGiveClearErrors) {
  struct Case {
    Bytes pickle;
    const char* fragment;
  };
  auto b = [](const std::string& s) { return test::to_bytes(s); };
  const std::vector<Case> cases = {
      {b(""), "truncated"},
      {b("\x80\x02}"), "truncated"},        // no STOP
      {b("\x80\x02."), "stack underflow"},  // STOP on an empty stack
      {b("\x80\x09}."), "protocol 9"},
      {b("\x80\x02I1\n."), "opcode 0x49"},  // INT: protocol 0, not accepted
      {b("\x80\x02h\x07."), "memo entry 7"},
      {b("\x80\x02X\xff\xff\xff\x7f."), "string of"},             // 2 GiB string in a tiny file
      {b("\x8d\xff\xff\xff\xff\xff\xff\xff\x7f."), "string of"},  // BINUNICODE8, 2^63
      {b("\x80\x02X\x02\x00\x00\x00\xc3\x28."s), "UTF-8"},
      {b("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09."), "wider than 64"},
      {b("\x80\x02}(K\x01u."), "odd number"},
      {b("\x80\x02(}u."), "stack underflow"},  // SETITEMS with no dict below
      {b("\x80\x02}K\x01"s
         "a."s),
       "APPEND on a dict"},
      {b("\x80\x02)K\x01s."), "stack underflow"},
      {b("\x80\x02(K\x01K\x02s."), "stack underflow"},  // SETITEM across a MARK
      {b("\x80\x02t."), "no MARK"},
      {b("\x80\x02K\x01)R."), "REDUCE on a int"},
      {b("\x80\x02"s
         "ccollections\nOrderedDict\nK\x01\x85R."s),
       "OrderedDict called with arguments"},
      {b("\x80\x02K\x01Q."), "persistent id"},
      {b("\x80\x02K\x01K\x02"s
         "b."s),
       "BUILD on a int"},
      {b("\x80\x02]."), "not a dict"},  // root is a list
      {b("\x80\x02"s
         "ccollections\nOrderedDict"s),
       "without newline"},
      {b("\x80\x02"s
         "c"s +
         std::string(300, 'a') + "\nb\n."s),
       "longer than 256"},
  };
  for (const auto& c : cases) {
    const std::string err = unpickle_error(c.pickle);
    EXPECT_NE(err.find(c.fragment), std::string::npos)
        << "pickle " << testing::PrintToString(std::string(c.pickle.begin(), c.pickle.end()))
        << " gave: " << err;
  }
}

TEST(PytorchReader, PickleLimitsHold) {
  pickle::Limits small;
  small.max_stack = 100;
  small.max_marks = 10;
  small.max_memo = 10;
  small.max_objects = 1000;
  small.max_string = 8;
  EXPECT_NE(unpickle_error(Bytes(200, 'N'), small).find("stack deeper than 100"),
            std::string::npos);
  EXPECT_NE(unpickle_error(Bytes(20, '('), small).find("more than 10 nested MARKs"),
            std::string::npos);
  PickleWriter memo;
  memo.proto().none();
  for (int i = 0; i < 20; ++i) memo.put(static_cast<uint8_t>(i));
  EXPECT_NE(unpickle_error(memo.bytes(), small).find("memo holds more than 10"), std::string::npos);
  Bytes many;
  for (int i = 0; i < 50; ++i) {
    many.push_back('(');
    for (int j = 0; j < 30; ++j) many.push_back(']');
    many.push_back('l');
  }
  EXPECT_NE(unpickle_error(many, small).find("more than 1000 objects"), std::string::npos);
  EXPECT_NE(unpickle_error(test::to_bytes("X\x09\x00\x00\x00"s
                                          "123456789."s),
                           small)
                .find("exceeds the limit"),
            std::string::npos);
  // Defaults: a million stack pushes is refused quickly.
  EXPECT_NE(unpickle_error(Bytes(1100000, 'N')).find("stack deeper"), std::string::npos);
}

TEST(PytorchReader, DeepNestingCyclesAndSharingAreBounded) {
  // 100 nested dicts with a tensor at the bottom.
  PickleWriter deep;
  deep.proto();
  for (int i = 0; i < 100; ++i) deep.empty_dict().str("k");
  deep.tensor("FloatStorage", "0", 1, 0, {1}, {1});
  for (int i = 0; i < 100; ++i) deep.setitem();
  deep.stop();
  EXPECT_NE(
      parse_error(zip_bytes(test::torch_items("a", deep.bytes(), {{"0", test::floats_bytes({1})}})))
          .find("nested deeper than 64"),
      std::string::npos);
  // A dict that contains itself.
  PickleWriter cycle;
  cycle.proto().empty_dict().put(0).str("self").get(0).setitem().stop();
  EXPECT_NE(unpickle_error(cycle.bytes()).find("the container at 'self' is reachable twice"),
            std::string::npos);
  // A chain of dicts each holding the next twice: 2^60 paths from a few hundred bytes.
  PickleWriter dag;
  dag.proto().tensor("FloatStorage", "0", 1, 0, {1}, {1}).put(0);
  dag.empty_dict().mark().str("a").get(0).str("b").get(0).setitems().put(1);  // tensor twice: ok
  for (int i = 1; i < 60; ++i) {
    const auto prev = static_cast<uint8_t>(i % 2);
    dag.empty_dict().mark().str("a").get(prev).str("b").get(prev).setitems().put(prev ^ 1);
  }
  dag.stop();
  EXPECT_NE(unpickle_error(dag.bytes()).find("reachable twice"), std::string::npos);
  // One tensor under two names (tied weights) is fine.
  PickleWriter tied;
  tied.proto().empty_dict().mark().str("a").tensor("FloatStorage", "0", 1, 0, {1}, {1}).put(0);
  tied.str("b").get(0).setitems().stop();
  EXPECT_EQ(unpickle_error(tied.bytes()), "no error");
}

TEST(PytorchReader, StateDictNamingRulesAndLimits) {
  PickleWriter p;
  p.proto().empty_dict().mark();
  for (int i = 0; i < 10; ++i) {
    std::string name = "t";
    name += std::to_string(i);  // (not "t" + ...: GCC 12 -Wrestrict false positive)
    p.str(name).tensor("FloatStorage", "0", 1, 0, {1}, {1});
  }
  p.setitems().stop();
  pickle::Document doc = pickle::unpickle(p.bytes().data(), p.bytes().size(), "x.pkl");
  EXPECT_EQ(flatten_state_dict(*doc.root(), "x.pkl").size(), 10u);
  auto err = [&](StateDictLimits l) {
    try {
      flatten_state_dict(*doc.root(), "x.pkl", l);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  StateDictLimits l;
  l.max_tensors = 5;
  EXPECT_NE(err(l).find("more than 5 tensors"), std::string::npos);
  l = {};
  l.max_name_bytes = 1;
  EXPECT_NE(err(l).find("longer than 1 bytes"), std::string::npos);
  l = {};
  l.max_total_name_bytes = 10;
  EXPECT_NE(err(l).find("add up to more than 10 bytes"), std::string::npos);
  l = {};
  l.max_visits = 3;
  EXPECT_NE(err(l).find("too large to walk"), std::string::npos);

  // {"a.b": T, "a": {"b": T}} flattens twice to "a.b".
  PickleWriter dup;
  dup.proto().empty_dict().mark().str("a.b").tensor("FloatStorage", "0", 1, 0, {1}, {1});
  dup.str("a").empty_dict().str("b").tensor("FloatStorage", "0", 1, 0, {1}, {1}).setitem();
  dup.setitems().stop();
  EXPECT_NE(unpickle_error(dup.bytes()).find("two tensors are named 'a.b'"), std::string::npos);
  // Integer keys name fine (optimizer state); a float key leading to tensors cannot.
  PickleWriter keys;
  keys.proto().empty_dict().mark().integer(3).tensor("FloatStorage", "0", 1, 0, {1}, {1});
  keys.op('G').le(0, 8).tensor("FloatStorage", "0", 1, 0, {1}, {1}).setitems().stop();
  EXPECT_NE(unpickle_error(keys.bytes()).find("a dict key of type float"), std::string::npos);
}

// ---------------------------------------------------------------- hostile archives

TEST(PytorchReader, MissingAndInconsistentStorages) {
  Bytes pkl = one_tensor_pickle("FloatStorage", "7", 4, 0, {4}, {1});
  EXPECT_NE(parse_error(
                zip_bytes(test::torch_items("a", pkl, {{"0", test::floats_bytes(iota_floats(4))}})))
                .find("storage '7' is missing from the archive (no entry 'a/data/7')"),
            std::string::npos);
  // Declared element count disagrees with the entry's size.
  Bytes pkl5 = one_tensor_pickle("FloatStorage", "0", 5, 0, {4}, {1});
  EXPECT_NE(parse_error(zip_bytes(test::torch_items("a", pkl5,
                                                    {{"0", test::floats_bytes(iota_floats(4))}})))
                .find("should hold 5 x FloatStorage but its entry has 16 bytes"),
            std::string::npos);
  // Huge element count (overflow when multiplied by the element size).
  Bytes huge = one_tensor_pickle("DoubleStorage", "0", int64_t{1} << 61, 0, {1}, {1});
  EXPECT_NE(
      parse_error(zip_bytes(test::torch_items("a", huge, {{"0", Bytes(8)}}))).find("should hold"),
      std::string::npos);
  // The same key used with two types.
  PickleWriter two;
  two.proto().empty_dict().mark();
  two.str("a").tensor("FloatStorage", "0", 4, 0, {4}, {1});
  two.str("b").tensor("IntStorage", "0", 4, 0, {4}, {1});
  two.setitems().stop();
  EXPECT_NE(parse_error(zip_bytes(test::torch_items("a", two.bytes(),
                                                    {{"0", test::floats_bytes(iota_floats(4))}})))
                .find("referenced both as"),
            std::string::npos);
  // A key that tries to leave the data folder.
  Bytes evil = one_tensor_pickle("FloatStorage", "../version", 1, 0, {1}, {1});
  EXPECT_NE(parse_error(zip_bytes(test::torch_items("a", evil, {}))).find("invalid storage key"),
            std::string::npos);
}

TEST(PytorchReader, GeometryIsBoundChecked) {
  struct Case {
    int64_t offset;
    std::vector<int64_t> size, stride;
    const char* fragment;
  };
  const std::vector<Case> cases = {
      {0, {4, 4}, {4, 1}, "reach past the storage '0' of 12 elements"},
      {1, {12}, {1}, "reach past the storage"},
      {0, {2, 3}, {1, 6}, "reach past the storage"},         // strides run past the storage
      {13, {0}, {1}, "storage offset 13 past the storage"},  // empty, but the offset is beyond
      {-1, {2}, {1}, "negative storage offset"},
      {0, {-2}, {1}, "negative size"},
      {0, {2}, {-1}, "negative size or stride"},
      {0, {int64_t{1} << 62, 4}, {1, 1}, "overflows"},
      {0, {0, int64_t{1} << 62, int64_t{1} << 62}, {1, 1, 1}, "overflows"},  // empty, but huge
      {0, {2, int64_t{1} << 40}, {int64_t{1} << 62, 1}, "reach past"},       // extent overflow
      {0, std::vector<int64_t>(17, 1), std::vector<int64_t>(17, 1), "rank 17 above 16"},
      // One element repeated 2^40 times by a zero stride: a memory bomb for any copy.
      {0, {int64_t{1} << 20, int64_t{1} << 20}, {0, 0}, "implausible"},
  };
  for (const auto& c : cases) {
    Bytes pkl = one_tensor_pickle("FloatStorage", "0", 12, c.offset, c.size, c.stride);
    const std::string err = parse_error(
        zip_bytes(test::torch_items("a", pkl, {{"0", test::floats_bytes(iota_floats(12))}})));
    EXPECT_NE(err.find(c.fragment), std::string::npos) << err;
    EXPECT_NE(err.find("tensor 't'"), std::string::npos) << err;
  }
  // Mismatched size / stride lengths are caught in the pickle.
  Bytes pkl = one_tensor_pickle("FloatStorage", "0", 12, 0, {2, 2}, {1});
  EXPECT_NE(unpickle_error(pkl).find("different lengths"), std::string::npos);
}

TEST(PytorchReader, BrokenArchives) {
  auto items = [] {
    return test::torch_items(
        "a", nested_pickle(),
        {{"0", test::floats_bytes(iota_floats(6))}, {"1", test::floats_bytes(iota_floats(3))}});
  };
  EXPECT_NE(parse_error(test::to_bytes("PK\x03\x04 not really a zip")).find("not a readable zip"),
            std::string::npos);
  EXPECT_NE(parse_error(Bytes{}).find("not a readable zip"), std::string::npos);
  EXPECT_NE(parse_error(zip_bytes({{"x/other.pkl", nested_pickle()}})).find("no data.pkl"),
            std::string::npos);
  EXPECT_NE(
      parse_error(zip_bytes({{"x/data.pkl", nested_pickle()}, {"y/data.pkl", nested_pickle()}}))
          .find("several data.pkl"),
      std::string::npos);
  auto dup = items();
  dup.push_back(dup[1]);
  EXPECT_NE(parse_error(zip_bytes(dup)).find("two entries named 'a/data/0'"), std::string::npos);
  // The size check against the pickle comes before the entry is read.
  auto lie = items();
  lie[1].declared_size = 1000;
  EXPECT_NE(parse_error(zip_bytes(lie)).find("should hold 6 x FloatStorage but its entry has 1000"),
            std::string::npos);
  // Data of data.pkl corrupted: the CRC catches it.
  Bytes z = zip_bytes(items());
  const Bytes pkl = nested_pickle();
  auto it = std::search(z.begin(), z.end(), pkl.begin(), pkl.end());
  ASSERT_NE(it, z.end());
  *(it + 3) ^= 0x01;
  EXPECT_NE(parse_error(z).find("CRC mismatch in zip entry 'a/data.pkl'"), std::string::npos);
}

// Entries that lie about their sizes, read through the zip layer itself.
std::string zip_read_error(const std::vector<ZipItem>& items, const std::string& name) {
  const Bytes z = zip_bytes(items);
  try {
    ZipArchive zip(nullptr, z.data(), z.size(), "mem.zip");
    const ZipEntry* e = zip.find(name);
    if (!e) return "entry not found";
    zip.read(*e, true);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(PytorchReader, ZipEntriesWithLyingSizes) {
  const Bytes data = test::floats_bytes(iota_floats(6));  // 24 bytes
  ZipItem stored{"a/x", data};
  stored.declared_size = 1000;
  EXPECT_NE(zip_read_error({stored}, "a/x").find("declares 24 stored but 1000 uncompressed"),
            std::string::npos);
  // Deflate cannot expand 1100:1: an absurd declared size is refused before inflating.
  ZipItem bomb{"a/x", data, true};
  bomb.declared_size = int64_t{3} << 30;
  EXPECT_NE(zip_read_error({bomb}, "a/x").find("implausible, refusing to inflate"),
            std::string::npos);
  ZipItem more{"a/x", data, true};
  more.declared_size = 25;
  EXPECT_NE(zip_read_error({more}, "a/x").find("inflates to 24 bytes but declares 25"),
            std::string::npos);
  ZipItem fewer{"a/x", data, true};
  fewer.declared_size = 20;  // minizip stops after 20 bytes: their CRC cannot match
  EXPECT_NE(zip_read_error({fewer}, "a/x").find("CRC mismatch"), std::string::npos);
  ZipItem ok{"a/x", data, true};
  EXPECT_EQ(zip_read_error({ok}, "a/x"), "no error");
}

TEST(PytorchReader, TruncatedAtEveryCutPoint) {
  const Bytes whole = nested_archive();
  ASSERT_EQ(parse(whole).tensors.size(), 2u);
  test::expect_every_truncation_fails(parse_pytorch, whole, "test.bin");
}

TEST(PytorchReader, FlippedBytesNeverCrash) {
  const Bytes whole = nested_archive();
  // Tensor data bytes are not CRC-checked: those flips load.
  const size_t errors =
      test::flipped_byte_errors(parse_pytorch, whole, {0x01, 0x80, 0xff}, "test.bin");
  EXPECT_GT(errors, whole.size());
}

TEST(PytorchReader, ZipArchiveApi) {
  const Bytes z = zip_bytes(
      {{"a/data.pkl", nested_pickle()}, {"a/data/0", test::floats_bytes(iota_floats(6)), true}});
  ZipArchive zip(nullptr, z.data(), z.size(), "mem.zip");
  ASSERT_EQ(zip.entries().size(), 2u);
  const ZipEntry* stored = zip.find("a/data.pkl");
  const ZipEntry* deflated = zip.find("a/data/0");
  ASSERT_TRUE(stored && deflated);
  EXPECT_EQ(zip.find("a/data/1"), nullptr);
  ZipBytes s = zip.read(*stored, true);
  EXPECT_TRUE(s.zero_copy);
  EXPECT_EQ(Bytes(s.data, s.data + s.size), nested_pickle());
  ZipBytes d = zip.read(*deflated);
  EXPECT_FALSE(d.zero_copy);
  EXPECT_EQ(Bytes(d.data, d.data + d.size), test::floats_bytes(iota_floats(6)));
}

}  // namespace
}  // namespace ipa
