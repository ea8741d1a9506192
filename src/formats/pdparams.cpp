#include "formats/pdparams.h"

#include <cstring>
#include <limits>

#include "base/mapped_file.h"
#include "formats/pickle.h"
#include "formats/state_dict.h"

namespace ipa {

namespace {

using pickle::Kind;
using pickle::Object;

constexpr size_t kMaxRank = 16;
constexpr const char* kNameTable = "StructuredToParameterName@@";
constexpr const char* kBigParams = "UnpackBigParamInfor@@";

struct NumpyType {
  const char* code;
  DType dtype;       // what the engine holds
  size_t file_size;  // bytes per element in the file
};

// numpy type codes as numpy.dtype pickles them. Paddle writes bfloat16 as uint16 ('u2').
constexpr NumpyType kTypes[] = {
    {"f4", DType::F32, 4}, {"f2", DType::F16, 2}, {"u2", DType::BF16, 2}, {"f8", DType::F32, 8},
    {"i8", DType::I64, 8}, {"i4", DType::I32, 4}, {"u1", DType::U8, 1},   {"b1", DType::Bool, 1},
};

const NumpyType* numpy_type(const std::string& code) {
  for (const auto& t : kTypes) {
    if (code == t.code) return &t;
  }
  return nullptr;
}

std::string printable(const std::string& s) {
  std::string out = s.substr(0, 16);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return out;
}

class Reader {
 public:
  Reader(std::shared_ptr<const void> owner, const std::string& path)
      : owner_(std::move(owner)), path_(path) {}

  TensorFile run(const uint8_t* data, size_t size) {
    const pickle::Document doc =
        pickle::unpickle(data, size, path_, pickle::Limits{}, pickle::Dialect::Numpy);
    const Object& root = *doc.root();
    if (root.kind == Kind::Dict) {
      for (const auto& [k, v] : root.entries) {
        if (k->kind == Kind::String && k->text == kBigParams) {
          throw Error(
              "holds arrays that paddle.save split into slices (UnpackBigParamInfor@@, written "
              "with protocol 2 or 3): not supported; re-save with paddle.save's default "
              "protocol 4",
              path_);
        }
      }
    }
    TensorFile out;
    out.path = path_;
    out.format = "pdparams";
    for (const auto& entry : flatten_state_dict(root, path_)) {
      if (entry.name.rfind(kNameTable, 0) == 0) continue;  // strings only; never tensors
      out.tensors.push_back({entry.name, make_tensor(entry.name, *entry.tensor)});
    }
    return out;
  }

 private:
  Tensor make_tensor(const std::string& name, const Object& a) {
    if (a.kind != Kind::Array || !a.built)
      throw Error("is not a numpy array with its data (BUILD missing)", path_, name);
    const std::string& code = a.dtype->text;
    const NumpyType* type = numpy_type(code);
    if (!type) {
      throw Error("numpy dtype '" + printable(code) +
                      "' is not read (expected float32 'f4', float16 'f2', bfloat16 as uint16 "
                      "'u2', float64 'f8', int64 'i8', int32 'i4', uint8 'u1' or bool 'b1')",
                  path_, name);
    }
    if (a.dtype->byte_order == '>' && type->file_size > 1)
      throw Error("big-endian numpy array: not supported", path_, name);
    const size_t rank = a.size.size();
    if (rank > kMaxRank)
      throw Error("array rank " + std::to_string(rank) + " above 16", path_, name);
    uint64_t numel = 1;
    for (int64_t s : a.size) {
      if (s < 0) throw Error("negative size in shape " + shape_str(a.size), path_, name);
      const uint64_t u = static_cast<uint64_t>(s);
      if (u != 0 && numel > std::numeric_limits<uint64_t>::max() / type->file_size / u)
        throw Error("shape " + shape_str(a.size) + " overflows", path_, name);
      numel *= u;
    }
    const uint64_t want = numel * type->file_size;
    if (want != a.data->bytes_size) {
      throw Error("shape " + shape_str(a.size) + " of '" + code + "' needs " +
                      std::to_string(want) + " bytes, the array data has " +
                      std::to_string(a.data->bytes_size),
                  path_, name);
    }
    // numpy's Fortran order is column-major: the same elements with reversed strides.
    Shape strides;
    if (a.fortran_order && rank > 1) {
      strides.assign(rank, 1);
      for (size_t d = 1; d < rank; ++d) strides[d] = strides[d - 1] * a.size[d - 1];
    }
    const uint8_t* bytes = a.data->bytes;
    const size_t es = dtype_size(type->dtype);
    if (type->file_size == es && reinterpret_cast<uintptr_t>(bytes) % es == 0)
      return Tensor::view_of(owner_, bytes, a.size, type->dtype, strides);
    // Misaligned (pickle puts data wherever the stream is) or converted: an owned copy.
    Tensor copy = Tensor::empty({static_cast<int64_t>(numel)}, type->dtype, Tensor::Alloc::kSystem);
    uint8_t* dst = static_cast<uint8_t*>(copy.raw_mutable());
    if (std::strcmp(type->code, "f8") == 0) {
      for (uint64_t i = 0; i < numel; ++i) {
        double v;
        std::memcpy(&v, bytes + 8 * i, 8);
        reinterpret_cast<float*>(dst)[i] = static_cast<float>(v);
      }
    } else if (numel) {
      std::memcpy(dst, bytes, static_cast<size_t>(want));
    }
    auto held = std::make_shared<Tensor>(std::move(copy));
    return Tensor::view_of(std::shared_ptr<const void>(held, held->raw()), held->raw(), a.size,
                           type->dtype, strides);
  }

  std::shared_ptr<const void> owner_;
  std::string path_;
};

}  // namespace

TensorFile parse_pdparams(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                          const std::string& path) {
  return Reader(std::move(owner), path).run(data, size);
}

TensorFile read_pdparams(const std::string& path) {
  auto file = MappedFile::open(path);
  const uint8_t* data = file->data();
  const size_t size = file->size();
  return parse_pdparams(std::shared_ptr<const void>(file, data), data, size, path);
}

}  // namespace ipa
