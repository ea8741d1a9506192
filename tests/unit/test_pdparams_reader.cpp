// The .pdparams reader on pickles assembled opcode by opcode the way paddle.save (pickle of a
// dict of numpy arrays) writes them: dtypes, Fortran order, the name table, and every kind of
// corrupt or hostile input ending in an ipa::Error that names the file and the problem.
#include <gtest/gtest.h>

#include <cstring>

#include "formats/pdparams.h"
#include "formats/pickle.h"
#include "formats/pytorch.h"
#include "reader_test_util.h"
#include "test_support.h"
#include "weights/paddle_names.h"

namespace ipa {
namespace {

using test::Bytes;
using test::PickleWriter;

struct Array {
  std::string name;
  std::string code;  // numpy type code: "f4", "f2", ...
  std::vector<int64_t> shape;
  Bytes data;
  bool fortran = false;
  std::string order = "<";
};

// numpy 1.x's ndarray.__reduce__: _reconstruct(ndarray, (0,), b'b') then BUILD with
// (1, shape, dtype, fortran_order, raw bytes); the dtype is numpy.dtype(code, False, True)
// with BUILD (3, order, None, None, None, -1, -1, 0).
void write_array(PickleWriter& w, const Array& a) {
  w.global("numpy.core.multiarray", "_reconstruct");
  w.global("numpy", "ndarray").integer(0).tuple_n(1).op('C').op(1).raw("b").tuple_n(3).reduce();
  w.mark().integer(1).int_tuple(a.shape);
  w.global("numpy", "dtype").short_str(a.code).boolean(false).boolean(true).tuple_n(3).reduce();
  w.mark().integer(3).short_str(a.order).none().none().none().integer(-1).integer(-1).integer(0);
  w.tuple().build();
  w.boolean(a.fortran);
  w.op('B').le(a.data.size(), 4);
  w.raw(std::string(a.data.begin(), a.data.end()));
  w.tuple().build();
}

Bytes state_dict(const std::vector<Array>& arrays, bool name_table = true) {
  PickleWriter w;
  w.proto(2).empty_dict().mark();
  for (const auto& a : arrays) {
    w.short_str(a.name);
    write_array(w, a);
  }
  if (name_table) {
    w.short_str("StructuredToParameterName@@").empty_dict().mark();
    for (const auto& a : arrays) w.short_str(a.name).short_str("linear_0.w_0");
    w.setitems();
  }
  w.setitems().stop();
  return w.bytes();
}

Bytes f16_bytes(const std::vector<uint16_t>& v) {
  Bytes b(v.size() * 2);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

TensorFile parse(const Bytes& b) {
  return test::parse_copy(parse_pdparams, b, "model_state.pdparams");
}
std::string parse_error(const Bytes& b) {
  return test::parse_copy_error(parse_pdparams, b, "model_state.pdparams");
}

TEST(PdparamsReader, ReadsArraysOfEveryFloatTypeAndSkipsTheNameTable) {
  const Bytes data = state_dict({
      {"w", "f4", {2, 3}, test::floats_bytes(test::iota_floats(6))},
      {"h", "f2", {2}, f16_bytes({0x3c00, 0xc000})},  // 1, -2
      {"b", "u2", {1}, f16_bytes({0x3f80})},          // bfloat16 1.0 stored as uint16
      {"e", "f4", {0, 4}, {}},                        // empty
  });
  const TensorFile f = parse(data);
  EXPECT_EQ(f.format, "pdparams");
  ASSERT_EQ(f.tensors.size(), 4u);  // no tensor from the name table
  EXPECT_EQ(f.tensors[0].name, "w");
  EXPECT_EQ(f.tensors[0].tensor.dtype(), DType::F32);
  EXPECT_EQ(f.tensors[0].tensor.shape(), (Shape{2, 3}));
  EXPECT_EQ(f.tensors[0].tensor.to_floats(), test::iota_floats(6));
  EXPECT_EQ(f.find("h")->dtype(), DType::F16);
  EXPECT_EQ(f.find("h")->to_floats(), (std::vector<float>{1.f, -2.f}));
  EXPECT_EQ(f.find("b")->dtype(), DType::BF16);
  EXPECT_EQ(f.find("b")->to_floats(), (std::vector<float>{1.f}));
  EXPECT_EQ(f.find("e")->numel(), 0);
}

TEST(PdparamsReader, Float64IsConvertedAndFortranOrderKeepsTheElements) {
  Bytes d(16);
  const double v[2] = {1.5, -2.25};
  std::memcpy(d.data(), v, 16);
  // [[0, 1, 2], [3, 4, 5]] in column-major order is 0 3 1 4 2 5.
  const Bytes fortran = test::floats_bytes({0, 3, 1, 4, 2, 5});
  const TensorFile f = parse(state_dict({{"d", "f8", {2}, d}, {"m", "f4", {2, 3}, fortran, true}}));
  EXPECT_EQ(f.find("d")->dtype(), DType::F32);
  EXPECT_EQ(f.find("d")->to_floats(), (std::vector<float>{1.5f, -2.25f}));
  EXPECT_EQ(f.find("m")->contiguous().to_floats(), test::iota_floats(6));
}

TEST(PdparamsReader, CorruptInputGivesClearErrors) {
  struct Case {
    Bytes bytes;
    std::vector<std::string> fragments;
  };
  const Bytes six = test::floats_bytes(test::iota_floats(6));
  std::vector<Case> cases = {
      // Shape and data size disagree.
      {state_dict({{"w", "f4", {2, 4}, six}}), {"'w'", "[2, 4]", "needs 32 bytes", "has 24"}},
      // A dtype the engine does not read (complex64).
      {state_dict({{"w", "c8", {1}, Bytes(8)}}), {"'w'", "numpy dtype 'c8'", "float32 'f4'"}},
      // Big-endian data.
      {state_dict({{"w", "f4", {6}, six, false, ">"}}), {"'w'", "big-endian"}},
      // Negative size.
      {state_dict({{"w", "f4", {-1, 6}, six}}), {"'w'", "negative size"}},
  };
  {  // A state dict whose value is a bare _reconstruct without BUILD.
    PickleWriter w;
    w.proto(2).empty_dict().mark().short_str("w").global("numpy.core.multiarray", "_reconstruct");
    w.global("numpy", "ndarray").integer(0).tuple_n(1).op('C').op(1).raw("b").tuple_n(3).reduce();
    w.setitems().stop();
    cases.push_back({w.bytes(), {"'w'", "BUILD missing"}});
  }
  {  // Arrays split by the protocol-2 writer.
    PickleWriter w;
    w.proto(2).empty_dict().mark().short_str("UnpackBigParamInfor@@").empty_dict();
    w.setitems().stop();
    cases.push_back({w.bytes(), {"UnpackBigParamInfor@@", "not supported"}});
  }
  {  // Data that is a str, not bytes (an object array or a foreign writer).
    PickleWriter w;
    w.proto(2).empty_dict().mark().short_str("w");
    w.global("numpy.core.multiarray", "_reconstruct");
    w.global("numpy", "ndarray").integer(0).tuple_n(1).op('C').op(1).raw("b").tuple_n(3).reduce();
    w.mark().integer(1).int_tuple({1});
    w.global("numpy", "dtype").short_str("f4").boolean(false).boolean(true).tuple_n(3).reduce();
    w.mark().integer(3).short_str("<").tuple().build();
    w.boolean(false).short_str("abcd").tuple().build().setitems().stop();
    cases.push_back({w.bytes(), {"numpy array data is a str, not bytes"}});
  }
  {  // ndarray called directly.
    PickleWriter w;
    w.proto(2).global("numpy", "ndarray").empty_tuple().reduce().stop();
    cases.push_back({w.bytes(), {"numpy.ndarray is called directly"}});
  }
  {  // Not a dict at all.
    PickleWriter w;
    w.proto(2).integer(5).stop();
    cases.push_back({w.bytes(), {"not a dict"}});
  }
  for (const auto& c : cases) {
    const std::string err = parse_error(c.bytes);
    EXPECT_TRUE(test::contains(err, "model_state.pdparams")) << err;
    for (const auto& f : c.fragments) EXPECT_TRUE(test::contains(err, f)) << f << " in: " << err;
  }
}

TEST(PdparamsReader, ForeignGlobalsAreRefusedByName) {
  PickleWriter os_system;  // protocol 2 GLOBAL
  os_system.proto(2).empty_dict().mark().short_str("w").global("os", "system").short_str("true");
  os_system.tuple_n(1).reduce().setitems().stop();
  PickleWriter stack_global;  // protocol 4 STACK_GLOBAL
  stack_global.proto(4).short_str("builtins").short_str("eval").op(0x93).stop();
  PickleWriter torch;  // a torch global is foreign to a .pdparams
  torch.proto(2).global("torch._utils", "_rebuild_tensor_v2").stop();
  for (const auto& [bytes, name] : std::vector<std::pair<Bytes, std::string>>{
           {os_system.bytes(), "'os.system'"},
           {stack_global.bytes(), "'builtins.eval'"},
           {torch.bytes(), "'torch._utils._rebuild_tensor_v2'"}}) {
    const std::string err = parse_error(bytes);
    EXPECT_TRUE(test::contains(err, name + " is not allowed")) << err;
    EXPECT_TRUE(test::contains(err, "model_state.pdparams")) << err;
  }
  // And numpy's globals are foreign to a torch checkpoint's pickle.
  const Bytes numpy = state_dict({{"w", "f4", {1}, test::floats_bytes({1.f})}});
  const std::string err =
      test::error_of([&] { pickle::unpickle(numpy.data(), numpy.size(), "data.pkl"); });
  EXPECT_TRUE(test::contains(err, "'numpy.core.multiarray._reconstruct' is not allowed")) << err;
}

TEST(PdparamsReader, TruncatedAtEveryCutPoint) {
  test::expect_every_truncation_fails(
      parse_pdparams, state_dict({{"w", "f4", {2, 3}, test::floats_bytes(test::iota_floats(6))}}),
      "model_state.pdparams");
}

TEST(PdparamsReader, FlippedBytesNeverCrash) {
  const Bytes whole = state_dict({{"w", "f4", {2, 3}, test::floats_bytes(test::iota_floats(6))},
                                  {"h", "f2", {2}, f16_bytes({0x3c00, 0xc000})}});
  EXPECT_GT(
      test::flipped_byte_errors(parse_pdparams, whole, {0x01, 0x80, 0xff}, "model_state.pdparams"),
      0u);
}

TEST(PdparamsReader, LoadTensorFileTellsPdparamsFromLegacyTorchPickles) {
  const std::string dir = test::temp_dir("pdparams_detect");
  const Bytes data = state_dict({{"w", "f4", {2}, test::floats_bytes({1.f, 2.f})}});
  test::write_all(dir + "/model_state.pdparams", data);
  const TensorFile f = load_tensor_file(dir + "/model_state.pdparams");
  EXPECT_EQ(f.format, "pdparams");
  EXPECT_EQ(f.find("w")->to_floats(), (std::vector<float>{1.f, 2.f}));
}

// PaddleNLP's names and [in, out] Linear weights → transformers' names and [out, in].
TEST(PaddleNames, ClipVisionRenamesAndTransposesLinearWeights) {
  const Bytes w23 = test::floats_bytes(test::iota_floats(6));
  const TensorFile f = parse(state_dict({
      {"vision_projection", "f4", {2, 3}, w23},
      {"vision_model.transformer.layers.0.linear1.weight", "f4", {2, 3}, w23},
      {"vision_model.transformer.layers.0.linear1.bias", "f4", {3}, Bytes(12)},
      {"vision_model.transformer.layers.1.self_attn.out_proj.weight", "f4", {2, 3}, w23},
      {"vision_model.transformer.layers.1.norm2.weight", "f4", {3}, Bytes(12)},
      {"vision_model.positional_embedding.weight", "f4", {2, 3}, w23},
      // ppdiffusers: transformers' names, Paddle layout.
      {"vision_model.encoder.layers.2.mlp.fc2.weight", "f4", {2, 3}, w23},
  }));
  TensorFile g = f;
  paddle_clip_vision_to_transformers(g);
  const std::vector<std::pair<std::string, bool>> want = {
      {"visual_projection.weight", true},
      {"vision_model.encoder.layers.0.mlp.fc1.weight", true},
      {"vision_model.encoder.layers.0.mlp.fc1.bias", false},
      {"vision_model.encoder.layers.1.self_attn.out_proj.weight", true},
      {"vision_model.encoder.layers.1.layer_norm2.weight", false},
      {"vision_model.embeddings.position_embedding.weight", false},
      {"vision_model.encoder.layers.2.mlp.fc2.weight", true},
  };
  ASSERT_EQ(g.tensors.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].first);
    EXPECT_EQ(g.tensors[i].name, want[i].first);
    const Tensor& before = f.tensors[i].tensor;
    const Tensor& after = g.tensors[i].tensor;
    if (want[i].second) {
      EXPECT_EQ(after.shape(), (Shape{before.size(1), before.size(0)}));
      EXPECT_EQ(after.contiguous().to_floats(), before.transpose(0, 1).contiguous().to_floats());
    } else {
      EXPECT_EQ(after.shape(), before.shape());
    }
  }
  // A Linear weight that is not 2-D is refused, naming it.
  TensorFile bad = parse(state_dict({{"vision_projection", "f4", {6}, w23}}));
  const std::string err = test::error_of([&] { paddle_clip_vision_to_transformers(bad); });
  EXPECT_TRUE(test::contains(err, "vision_projection")) << err;
  EXPECT_TRUE(test::contains(err, "2-D")) << err;
}

}  // namespace
}  // namespace ipa
