// A restricted unpickler for state dicts. It interprets the pickle opcodes a state dict needs
// and NEVER executes anything: the only globals it accepts are those of its dialect —
// torch.save's for tensors (collections.OrderedDict, torch._utils._rebuild_tensor_v2 and
// friends, torch.*Storage), or paddle.save's numpy arrays (numpy.core.multiarray._reconstruct,
// numpy.ndarray, numpy.dtype); any other global is an ipa::Error naming it. The result is a
// graph of plain objects (dicts, lists, tuples, scalars) in which tensors appear as
// descriptions (torch: storage key, dtype, offset, size, stride; numpy: shape, dtype code and
// the bytes' place in the input); no tensor data is touched here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ipa::pickle {

// torch.<X>Storage: the element type of a storage as pickled by torch.save.
enum class StorageType : uint8_t {
  Float,
  Double,
  Half,
  BFloat16,
  Long,
  Int,
  Short,
  Char,
  Byte,
  Bool
};
const char* storage_type_name(StorageType t);  // "FloatStorage", ...
size_t storage_element_size(StorageType t);

// Which globals a pickle may name: torch.save's (a .bin / .ckpt data.pkl) or paddle.save's
// (a .pdparams: a dict of numpy arrays).
enum class Dialect : uint8_t { Torch, Numpy };

// The accepted callables.
enum class Callable : uint8_t {
  OrderedDict,
  RebuildTensorV2,
  RebuildTensor,
  RebuildParameter,
  Storage,
  NumpyReconstruct,  // numpy.core.multiarray._reconstruct (numpy._core.… since numpy 2)
  NumpyNdarray,      // numpy.ndarray, only as _reconstruct's first argument
  NumpyDtype,        // numpy.dtype
};

enum class Kind : uint8_t {
  None,
  Bool,
  Int,
  Float,
  String,
  Tuple,
  List,
  Dict,
  Global,   // one of the accepted callables (e.g. the class OrderedDict itself)
  Storage,  // a persistent id ('storage', type, key, location, numel)
  Tensor,   // the result of _rebuild_tensor_v2 / _rebuild_tensor / _rebuild_parameter
  Bytes,    // a bytes object: a span of the input, not copied
  Array,    // a numpy.ndarray (_reconstruct, then BUILD gives it shape, dtype and data)
  Dtype,    // a numpy.dtype
};
const char* kind_name(Kind k);

struct Object {
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0.0;
  std::string text;                                              // String; Storage: key
  std::vector<const Object*> items;                              // Tuple, List
  std::vector<std::pair<const Object*, const Object*>> entries;  // Dict, insertion order
  Callable callable = Callable::OrderedDict;                     // Global
  StorageType storage_type = StorageType::Float;                 // Global(Storage), Storage
  // Storage: element count declared in the persistent id. Tensor: see below.
  int64_t storage_numel = 0;
  // Tensor: `storage` is a Storage object; geometry in elements.
  const Object* storage = nullptr;
  int64_t storage_offset = 0;
  std::vector<int64_t> size, stride;  // Array: `size` is the shape
  // Bytes: where they are in the input given to unpickle() (which must outlive the document).
  const uint8_t* bytes = nullptr;
  size_t bytes_size = 0;
  // Array: a Dtype and a Bytes object once built; Fortran (column-major) order.
  const Object* dtype = nullptr;
  const Object* data = nullptr;
  bool fortran_order = false;
  bool built = false;
  // Dtype: `text` holds the type code ("f4", "f2", ...), `byte_order` '<', '>', '|' or '='.
  char byte_order = '=';
};

// Caps against hostile input: every one is far above what a real checkpoint needs and keeps
// memory linear in the input size.
struct Limits {
  size_t max_objects = 4u << 20;
  size_t max_stack = 1u << 20;
  size_t max_marks = 1u << 16;
  size_t max_memo = 4u << 20;
  size_t max_string = 16u << 20;  // bytes in one string
};

class Unpickler;

// The unpickled graph; objects live as long as the document (cycles are harmless).
class Document {
 public:
  const Object* root() const { return root_; }
  size_t object_count() const { return arena_.size(); }

 private:
  friend class Unpickler;
  std::vector<std::unique_ptr<Object>> arena_;
  const Object* root_ = nullptr;
};

// Unpickles `data`. `name` (e.g. "file.bin/archive/data.pkl") is used in error messages.
// Throws ipa::Error on any opcode, global or structure outside the accepted subset of the
// dialect, on truncation, and when a limit is exceeded. Bytes objects point into `data`.
Document unpickle(const uint8_t* data, size_t size, const std::string& name,
                  const Limits& limits = Limits{}, Dialect dialect = Dialect::Torch);

}  // namespace ipa::pickle
