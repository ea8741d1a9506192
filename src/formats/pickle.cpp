#include "formats/pickle.h"

#include <cstring>
#include <unordered_map>

#include "base/error.h"

namespace ipa::pickle {

const char* storage_type_name(StorageType t) {
  switch (t) {
    case StorageType::Float:
      return "FloatStorage";
    case StorageType::Double:
      return "DoubleStorage";
    case StorageType::Half:
      return "HalfStorage";
    case StorageType::BFloat16:
      return "BFloat16Storage";
    case StorageType::Long:
      return "LongStorage";
    case StorageType::Int:
      return "IntStorage";
    case StorageType::Short:
      return "ShortStorage";
    case StorageType::Char:
      return "CharStorage";
    case StorageType::Byte:
      return "ByteStorage";
    case StorageType::Bool:
      return "BoolStorage";
  }
  return "?";
}

size_t storage_element_size(StorageType t) {
  switch (t) {
    case StorageType::Double:
    case StorageType::Long:
      return 8;
    case StorageType::Float:
    case StorageType::Int:
      return 4;
    case StorageType::Half:
    case StorageType::BFloat16:
    case StorageType::Short:
      return 2;
    case StorageType::Char:
    case StorageType::Byte:
    case StorageType::Bool:
      return 1;
  }
  return 1;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None:
      return "None";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::Tuple:
      return "tuple";
    case Kind::List:
      return "list";
    case Kind::Dict:
      return "dict";
    case Kind::Global:
      return "global";
    case Kind::Storage:
      return "storage";
    case Kind::Tensor:
      return "tensor";
    case Kind::Bytes:
      return "bytes";
    case Kind::Array:
      return "numpy array";
    case Kind::Dtype:
      return "numpy dtype";
  }
  return "?";
}

namespace {

// Opcodes of the pickle protocol (Python's Lib/pickle.py names).
enum Op : uint8_t {
  MARK = '(',
  STOP = '.',
  BININT = 'J',
  BININT1 = 'K',
  BININT2 = 'M',
  NONE = 'N',
  BINPERSID = 'Q',
  REDUCE = 'R',
  BINSTRING = 'T',
  SHORT_BINSTRING = 'U',
  BINUNICODE = 'X',
  APPEND = 'a',
  BUILD = 'b',
  GLOBAL = 'c',
  DICT = 'd',
  EMPTY_DICT = '}',
  APPENDS = 'e',
  BINGET = 'h',
  LONG_BINGET = 'j',
  LIST = 'l',
  EMPTY_LIST = ']',
  BINPUT = 'q',
  LONG_BINPUT = 'r',
  SETITEM = 's',
  TUPLE = 't',
  EMPTY_TUPLE = ')',
  SETITEMS = 'u',
  BINFLOAT = 'G',
  BINBYTES = 'B',
  SHORT_BINBYTES = 'C',
  PROTO = 0x80,
  NEWOBJ = 0x81,
  TUPLE1 = 0x85,
  TUPLE2 = 0x86,
  TUPLE3 = 0x87,
  NEWTRUE = 0x88,
  NEWFALSE = 0x89,
  LONG1 = 0x8a,
  SHORT_BINUNICODE = 0x8c,
  BINUNICODE8 = 0x8d,
  BINBYTES8 = 0x8e,
  STACK_GLOBAL = 0x93,
  MEMOIZE = 0x94,
  FRAME = 0x95,
};

constexpr size_t kMaxGlobalLine = 256;
constexpr size_t kMaxRank = 64;      // geometry tuples; the reader applies the tighter tensor rank
constexpr size_t kMaxDtypeCode = 8;  // numpy type codes are "f4", "<f2", ...

bool valid_utf8(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    const uint32_t min_cp = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, const std::string& name, const Limits& limits,
            Dialect dialect)
      : p_(data), n_(size), name_(name), limits_(limits), dialect_(dialect) {}

  Document run() {
    none_ = make(Kind::None);
    true_ = make(Kind::Bool);
    true_->boolean = true;
    false_ = make(Kind::Bool);
    for (;;) {
      op_pos_ = pos_;
      const uint8_t op = byte();
      if (op == STOP) {
        doc_.root_ = pop();
        return std::move(doc_);
      }
      step(op);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw Error("pickle byte " + std::to_string(op_pos_) + ": " + message, name_);
  }

  // --- input ---
  void need(size_t k) const {
    if (n_ - pos_ < k) fail("truncated pickle (needs " + std::to_string(k) + " more bytes)");
  }
  uint8_t byte() {
    need(1);
    return p_[pos_++];
  }
  uint64_t le(size_t k) {
    need(k);
    uint64_t v = 0;
    for (size_t i = k; i-- > 0;) v = (v << 8) | p_[pos_ + i];
    pos_ += k;
    return v;
  }
  std::string line() {
    const size_t start = pos_;
    while (pos_ < n_ && p_[pos_] != '\n') {
      if (pos_ - start >= kMaxGlobalLine) fail("GLOBAL name longer than 256 bytes");
      ++pos_;
    }
    if (pos_ >= n_) fail("truncated pickle (GLOBAL name without newline)");
    std::string s(reinterpret_cast<const char*>(p_ + start), pos_ - start);
    ++pos_;
    return s;
  }
  std::string text(uint64_t len, bool utf8) {
    if (len > limits_.max_string)
      fail("string of " + std::to_string(len) + " bytes exceeds the limit of " +
           std::to_string(limits_.max_string));
    if (len > n_ - pos_)
      fail("truncated pickle (string of " + std::to_string(len) + " bytes, " +
           std::to_string(n_ - pos_) + " left)");
    if (utf8 && !valid_utf8(p_ + pos_, len)) fail("string is not valid UTF-8");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }
  // A bytes object stays where it is in the input (array data can be gigabytes).
  Object* bytes(uint64_t len) {
    if (len > n_ - pos_)
      fail("truncated pickle (bytes of " + std::to_string(len) + ", " + std::to_string(n_ - pos_) +
           " left)");
    Object* o = make(Kind::Bytes);
    o->bytes = p_ + pos_;
    o->bytes_size = static_cast<size_t>(len);
    pos_ += len;
    return o;
  }

  // --- objects and stack ---
  Object* make(Kind k) {
    if (doc_.arena_.size() >= limits_.max_objects)
      fail("more than " + std::to_string(limits_.max_objects) + " objects");
    doc_.arena_.push_back(std::make_unique<Object>());
    doc_.arena_.back()->kind = k;
    return doc_.arena_.back().get();
  }
  Object* make_int(int64_t v) {
    Object* o = make(Kind::Int);
    o->integer = v;
    return o;
  }
  Object* make_string(std::string s) {
    Object* o = make(Kind::String);
    o->text = std::move(s);
    return o;
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(Object* o) {
    if (stack_.size() >= limits_.max_stack)
      fail("stack deeper than " + std::to_string(limits_.max_stack));
    stack_.push_back(o);
  }
  Object* pop() {
    if (stack_.size() <= floor()) fail("stack underflow");
    Object* o = stack_.back();
    stack_.pop_back();
    return o;
  }
  Object* top() const {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  // Items above the topmost MARK, which is removed.
  std::vector<Object*> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Object*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  Object* make_sequence(Kind k, const std::vector<Object*>& items) {
    Object* o = make(k);
    o->items.assign(items.begin(), items.end());
    return o;
  }
  void memo_put(uint64_t index) {
    Object* o = top();
    auto it = memo_.find(index);
    if (it == memo_.end() && memo_.size() >= limits_.max_memo)
      fail("memo holds more than " + std::to_string(limits_.max_memo) + " entries");
    memo_[index] = o;
  }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo entry " + std::to_string(index) + " was never stored");
    push(it->second);
  }

  // --- globals and calls ---
  Object* resolve_global(const std::string& module, const std::string& name) {
    Object* g = make(Kind::Global);
    if (module == "collections" && name == "OrderedDict") {
      g->callable = Callable::OrderedDict;
      return g;
    }
    if (dialect_ == Dialect::Numpy) {
      // What pickling a numpy array writes (numpy 1.x and 2.x module names), nothing else.
      if ((module == "numpy.core.multiarray" || module == "numpy._core.multiarray") &&
          name == "_reconstruct") {
        g->callable = Callable::NumpyReconstruct;
        return g;
      }
      if (module == "numpy" && name == "ndarray") {
        g->callable = Callable::NumpyNdarray;
        return g;
      }
      if (module == "numpy" && name == "dtype") {
        g->callable = Callable::NumpyDtype;
        return g;
      }
      refuse_global(module, name,
                    "only numpy arrays and dicts are read from a paddle.save file "
                    "(numpy.core.multiarray._reconstruct, numpy.ndarray, numpy.dtype) and nothing "
                    "in it is executed");
    }
    if (module == "torch._utils") {
      if (name == "_rebuild_tensor_v2") {
        g->callable = Callable::RebuildTensorV2;
        return g;
      }
      if (name == "_rebuild_tensor") {
        g->callable = Callable::RebuildTensor;
        return g;
      }
      if (name == "_rebuild_parameter") {
        g->callable = Callable::RebuildParameter;
        return g;
      }
    }
    if (module == "torch") {
      static const std::pair<const char*, StorageType> kStorages[] = {
          {"FloatStorage", StorageType::Float}, {"DoubleStorage", StorageType::Double},
          {"HalfStorage", StorageType::Half},   {"BFloat16Storage", StorageType::BFloat16},
          {"LongStorage", StorageType::Long},   {"IntStorage", StorageType::Int},
          {"ShortStorage", StorageType::Short}, {"CharStorage", StorageType::Char},
          {"ByteStorage", StorageType::Byte},   {"BoolStorage", StorageType::Bool},
      };
      for (const auto& [n, t] : kStorages) {
        if (name == n) {
          g->callable = Callable::Storage;
          g->storage_type = t;
          return g;
        }
      }
    }
    refuse_global(module, name,
                  "only tensors, dicts and torch storages are read from a checkpoint and nothing "
                  "in it is executed (is this a full pickled model or a foreign file?)");
  }

  [[noreturn]] void refuse_global(const std::string& module, const std::string& name,
                                  const char* why) const {
    std::string shown = module + "." + name;
    for (char& c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    }
    fail("global '" + shown + "' is not allowed: " + why);
  }

  // numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b'): an empty array that BUILD
  // then fills.
  Object* reconstruct_array(const std::vector<const Object*>& a) {
    if (a.size() != 3 || a[0]->kind != Kind::Global || a[0]->callable != Callable::NumpyNdarray)
      fail("_reconstruct expects (numpy.ndarray, shape, typecode)");
    return make(Kind::Array);
  }

  // numpy.dtype(code, align, copy): the byte order comes with BUILD.
  Object* make_dtype(const std::vector<const Object*>& a) {
    if (a.empty() || a.size() > 3 || a[0]->kind != Kind::String)
      fail("numpy.dtype expects (type code, align, copy)");
    if (a[0]->text.empty() || a[0]->text.size() > kMaxDtypeCode)
      fail("numpy.dtype type code of " + std::to_string(a[0]->text.size()) + " characters");
    Object* d = make(Kind::Dtype);
    d->text = a[0]->text;
    return d;
  }

  // ndarray.__setstate__((version, shape, dtype, fortran_order, data)); the version is absent
  // in numpy's oldest format.
  void build_array(Object* array, const Object* state) {
    if (array->built) fail("BUILD on a numpy array that already has its state");
    if (state->kind != Kind::Tuple || (state->items.size() != 5 && state->items.size() != 4))
      fail(std::string("numpy array state is a ") + kind_name(state->kind) + " of " +
           std::to_string(state->items.size()) +
           " items, not (version, shape, dtype, fortran_order, data)");
    const auto& s = state->items;
    const size_t k = s.size() == 5 ? 1 : 0;
    if (k == 1 && (s[0]->kind != Kind::Int || s[0]->integer != 1))
      fail("numpy array state version is not 1");
    array->size = int_tuple(s[k], "shape");
    if (s[k + 1]->kind != Kind::Dtype)
      fail(std::string("numpy array dtype is a ") + kind_name(s[k + 1]->kind));
    if (!is_int(s[k + 2])) fail("numpy array fortran_order flag is not a bool");
    if (s[k + 3]->kind != Kind::Bytes)
      fail(std::string("numpy array data is a ") + kind_name(s[k + 3]->kind) +
           ", not bytes (object arrays are not read)");
    array->dtype = s[k + 1];
    array->fortran_order = s[k + 2]->integer != 0 || s[k + 2]->boolean;
    array->data = s[k + 3];
    array->built = true;
  }

  // dtype.__setstate__((version, byte order, ...)).
  void build_dtype(Object* dtype, const Object* state) {
    if (state->kind != Kind::Tuple || state->items.size() < 2 ||
        state->items[1]->kind != Kind::String || state->items[1]->text.size() != 1)
      fail("numpy dtype state is not (version, byte order, ...)");
    const char order = state->items[1]->text[0];
    if (order != '<' && order != '>' && order != '|' && order != '=')
      fail("numpy dtype byte order is not one of < > | =");
    dtype->byte_order = order;
  }

  static bool is_int(const Object* o) { return o->kind == Kind::Int || o->kind == Kind::Bool; }

  std::vector<int64_t> int_tuple(const Object* o, const char* what) {
    if (o->kind != Kind::Tuple && o->kind != Kind::List)
      fail(std::string("tensor ") + what + " is a " + kind_name(o->kind) + ", not a tuple");
    if (o->items.size() > kMaxRank)
      fail(std::string("tensor ") + what + " has too many dimensions");
    std::vector<int64_t> v;
    for (const Object* x : o->items) {
      if (x->kind != Kind::Int) fail(std::string("tensor ") + what + " holds a non-integer");
      v.push_back(x->integer);
    }
    return v;
  }

  Object* rebuild_tensor(const std::vector<const Object*>& args, size_t min_args, size_t max_args,
                         const char* fn) {
    if (args.size() < min_args || args.size() > max_args)
      fail(std::string(fn) + " called with " + std::to_string(args.size()) + " arguments");
    if (args[0]->kind != Kind::Storage)
      fail(std::string(fn) + ": first argument is a " + kind_name(args[0]->kind) +
           ", not a persistent storage");
    if (args[1]->kind != Kind::Int) fail(std::string(fn) + ": storage offset is not an integer");
    Object* t = make(Kind::Tensor);
    t->storage = args[0];
    t->storage_offset = args[1]->integer;
    t->size = int_tuple(args[2], "size");
    t->stride = int_tuple(args[3], "stride");
    if (t->size.size() != t->stride.size())
      fail(std::string(fn) + ": size and stride have different lengths");
    return t;
  }

  Object* call(const Object* fn, const Object* args) {
    if (fn->kind != Kind::Global)
      fail(std::string("REDUCE on a ") + kind_name(fn->kind) + ", which is not callable");
    if (args->kind != Kind::Tuple)
      fail(std::string("REDUCE arguments are a ") + kind_name(args->kind) + ", not a tuple");
    const auto& a = args->items;
    switch (fn->callable) {
      case Callable::OrderedDict:
        if (!a.empty()) fail("OrderedDict called with arguments");
        return make(Kind::Dict);
      case Callable::RebuildTensorV2:
        return rebuild_tensor(a, 6, 7, "_rebuild_tensor_v2");
      case Callable::RebuildTensor:
        return rebuild_tensor(a, 4, 4, "_rebuild_tensor");
      case Callable::RebuildParameter:
        if (a.size() != 3 || a[0]->kind != Kind::Tensor)
          fail("_rebuild_parameter expects (tensor, requires_grad, hooks)");
        return const_cast<Object*>(a[0]);
      case Callable::Storage:
        fail("a torch storage class is called directly");
      case Callable::NumpyReconstruct:
        return reconstruct_array(a);
      case Callable::NumpyDtype:
        return make_dtype(a);
      case Callable::NumpyNdarray:
        fail("numpy.ndarray is called directly");
    }
    fail("unknown callable");
  }

  Object* persistent_load(const Object* pid) {
    // ('storage', torch.<X>Storage, key, location, numel)
    if (pid->kind != Kind::Tuple || pid->items.size() != 5)
      fail("persistent id is not a 5-tuple ('storage', type, key, location, numel)");
    const auto& a = pid->items;
    if (a[0]->kind != Kind::String || a[0]->text != "storage")
      fail("persistent id does not start with 'storage'");
    if (a[1]->kind != Kind::Global || a[1]->callable != Callable::Storage)
      fail("persistent id names no torch storage type");
    if (a[2]->kind != Kind::String) fail("persistent id's storage key is not a string");
    if (a[3]->kind != Kind::String) fail("persistent id's location is not a string");
    if (a[4]->kind != Kind::Int || a[4]->integer < 0)
      fail("persistent id's element count is not a non-negative integer");
    Object* s = make(Kind::Storage);
    s->storage_type = a[1]->storage_type;
    s->text = a[2]->text;
    s->storage_numel = a[4]->integer;
    return s;
  }

  Object* as_dict(Object* o, const char* op) {
    if (o->kind != Kind::Dict)
      fail(std::string(op) + " on a " + kind_name(o->kind) + ", not a dict");
    return o;
  }
  Object* as_list(Object* o, const char* op) {
    if (o->kind != Kind::List)
      fail(std::string(op) + " on a " + kind_name(o->kind) + ", not a list");
    return o;
  }
  void set_items(Object* dict, const std::vector<Object*>& kv) {
    if (kv.size() % 2 != 0) fail("odd number of items for a dict");
    for (size_t i = 0; i < kv.size(); i += 2) dict->entries.emplace_back(kv[i], kv[i + 1]);
  }

  void step(uint8_t op) {
    switch (op) {
      case PROTO: {
        const uint8_t v = byte();
        if (v > 5) fail("unsupported pickle protocol " + std::to_string(v));
        return;
      }
      case FRAME:
        le(8);
        return;  // frames only matter to streaming readers
      case MARK:
        if (marks_.size() >= limits_.max_marks)
          fail("more than " + std::to_string(limits_.max_marks) + " nested MARKs");
        marks_.push_back(stack_.size());
        return;
      case NONE:
        push(none_);
        return;
      case NEWTRUE:
        push(true_);
        return;
      case NEWFALSE:
        push(false_);
        return;
      case BININT:
        push(make_int(static_cast<int32_t>(static_cast<uint32_t>(le(4)))));
        return;
      case BININT1:
        push(make_int(byte()));
        return;
      case BININT2:
        push(make_int(static_cast<int64_t>(le(2))));
        return;
      case LONG1: {
        const uint8_t k = byte();
        if (k > 8) fail("integer wider than 64 bits");
        uint64_t v = le(k);
        if (k > 0 && k < 8 && (v >> (8 * k - 1)) & 1) v |= ~uint64_t{0} << (8 * k);  // sign-extend
        push(make_int(static_cast<int64_t>(v)));
        return;
      }
      case BINFLOAT: {
        need(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p_[pos_ + i];  // big-endian
        pos_ += 8;
        Object* o = make(Kind::Float);
        std::memcpy(&o->real, &bits, 8);
        push(o);
        return;
      }
      case BINUNICODE:
        push(make_string(text(le(4), true)));
        return;
      case SHORT_BINUNICODE:
        push(make_string(text(byte(), true)));
        return;
      case BINUNICODE8:
        push(make_string(text(le(8), true)));
        return;
      case BINSTRING: {
        const int32_t len = static_cast<int32_t>(static_cast<uint32_t>(le(4)));
        if (len < 0) fail("negative BINSTRING length");
        push(make_string(text(static_cast<uint64_t>(len), false)));
        return;
      }
      case SHORT_BINSTRING:
        push(make_string(text(byte(), false)));
        return;
      case SHORT_BINBYTES:
        push(bytes(byte()));
        return;
      case BINBYTES:
        push(bytes(le(4)));
        return;
      case BINBYTES8:
        push(bytes(le(8)));
        return;
      case EMPTY_DICT:
        push(make(Kind::Dict));
        return;
      case EMPTY_LIST:
        push(make(Kind::List));
        return;
      case EMPTY_TUPLE:
        push(make(Kind::Tuple));
        return;
      case DICT: {
        auto kv = pop_mark();
        Object* d = make(Kind::Dict);
        set_items(d, kv);
        push(d);
        return;
      }
      case LIST:
        push(make_sequence(Kind::List, pop_mark()));
        return;
      case TUPLE:
        push(make_sequence(Kind::Tuple, pop_mark()));
        return;
      case TUPLE1:
      case TUPLE2:
      case TUPLE3: {
        const size_t k = op - TUPLE1 + 1;
        std::vector<Object*> items(k);
        for (size_t i = k; i-- > 0;) items[i] = pop();
        push(make_sequence(Kind::Tuple, items));
        return;
      }
      case APPEND: {
        Object* v = pop();
        as_list(top(), "APPEND")->items.push_back(v);
        return;
      }
      case APPENDS: {
        auto items = pop_mark();
        Object* list = as_list(top(), "APPENDS");
        list->items.insert(list->items.end(), items.begin(), items.end());
        return;
      }
      case SETITEM: {
        Object* v = pop();
        Object* k = pop();
        as_dict(top(), "SETITEM")->entries.emplace_back(k, v);
        return;
      }
      case SETITEMS: {
        auto kv = pop_mark();
        set_items(as_dict(top(), "SETITEMS"), kv);
        return;
      }
      case BINPUT:
        memo_put(byte());
        return;
      case LONG_BINPUT:
        memo_put(le(4));
        return;
      case MEMOIZE:
        memo_put(memo_.size());
        return;
      case BINGET:
        memo_get(byte());
        return;
      case LONG_BINGET:
        memo_get(le(4));
        return;
      case GLOBAL: {
        std::string module = line();
        std::string name = line();
        push(resolve_global(module, name));
        return;
      }
      case STACK_GLOBAL: {
        Object* name = pop();
        Object* module = pop();
        if (module->kind != Kind::String || name->kind != Kind::String)
          fail("STACK_GLOBAL operands are not strings");
        push(resolve_global(module->text, name->text));
        return;
      }
      case REDUCE: {
        Object* args = pop();
        Object* fn = pop();
        push(call(fn, args));
        return;
      }
      case NEWOBJ: {
        Object* args = pop();
        Object* cls = pop();
        if (cls->kind != Kind::Global || cls->callable != Callable::OrderedDict ||
            args->kind != Kind::Tuple || !args->items.empty())
          fail("NEWOBJ is only accepted for an empty OrderedDict");
        push(make(Kind::Dict));
        return;
      }
      case BUILD: {
        const Object* state = pop();
        Object* target = top();
        if (target->kind == Kind::Array) return build_array(target, state);
        if (target->kind == Kind::Dtype) return build_dtype(target, state);
        // A dict's state: torch puts `_metadata` on its OrderedDicts; we do not need it.
        as_dict(target, "BUILD");
        return;
      }
      case BINPERSID:
        if (dialect_ != Dialect::Torch) fail("persistent ids belong to torch checkpoints");
        push(persistent_load(pop()));
        return;
      default: {
        static const char* kHex = "0123456789abcdef";
        std::string hex = "0x";
        hex += kHex[op >> 4];
        hex += kHex[op & 15];
        fail("unsupported pickle opcode " + hex +
             " (not needed for a state dict; the file is corrupt or holds other objects)");
      }
    }
  }

  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0, op_pos_ = 0;
  const std::string& name_;
  const Limits& limits_;
  const Dialect dialect_;
  Document doc_;
  std::vector<Object*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Object*> memo_;
  Object *none_ = nullptr, *true_ = nullptr, *false_ = nullptr;
};

Document unpickle(const uint8_t* data, size_t size, const std::string& name, const Limits& limits,
                  Dialect dialect) {
  return Unpickler(data, size, name, limits, dialect).run();
}

}  // namespace ipa::pickle
