#include "formats/pytorch.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "base/mapped_file.h"
#include "formats/pickle.h"
#include "formats/state_dict.h"
#include "formats/zip_archive.h"

namespace ipa {

namespace {

using pickle::StorageType;

constexpr size_t kMaxRank = 16;
// A view may repeat storage elements (stride 0, as `expand` makes), but a tiny storage viewed as
// billions of elements is a memory bomb for whoever copies it: above this many elements a
// tensor may not have more elements than its storage.
constexpr uint64_t kMaxExpandedElements = 1u << 24;
constexpr uint64_t kMaxPickleBytes = 1ull << 30;

// torch.save names every entry "<archive>/...", where <archive> is the file's stem at save time
// (and varies); data.pkl is found by suffix at the shallowest depth.
const ZipEntry& find_data_pkl(const ZipArchive& zip) {
  const ZipEntry* best = nullptr;
  size_t best_depth = 0;
  bool tie = false;
  for (const auto& e : zip.entries()) {
    const std::string& n = e.name;
    if (n != "data.pkl" && !(n.size() > 9 && n.compare(n.size() - 9, 9, "/data.pkl") == 0))
      continue;
    const size_t depth = static_cast<size_t>(std::count(n.begin(), n.end(), '/'));
    if (!best || depth < best_depth) {
      best = &e, best_depth = depth, tie = false;
    } else if (depth == best_depth) {
      tie = true;
    }
  }
  if (!best) {
    throw Error(
        "zip archive has no data.pkl: not a PyTorch checkpoint (torch.save since 1.6 "
        "writes <name>/data.pkl)",
        zip.path());
  }
  if (tie) throw Error("zip archive holds several data.pkl at the same depth", zip.path());
  return *best;
}

DType stored_dtype(StorageType t) {
  switch (t) {
    case StorageType::Float:
      return DType::F32;
    case StorageType::Half:
      return DType::F16;
    case StorageType::BFloat16:
      return DType::BF16;
    case StorageType::Long:
      return DType::I64;
    case StorageType::Int:
      return DType::I32;
    case StorageType::Byte:
      return DType::U8;
    case StorageType::Bool:
      return DType::Bool;
    // Converted on load (the engine has no f64 / i16 / i8 kernels):
    case StorageType::Double:
      return DType::F32;
    case StorageType::Short:
    case StorageType::Char:
      return DType::I32;
  }
  return DType::F32;
}

// One storage as the engine will see it: `numel` elements of `dtype` at `data`.
struct Storage {
  StorageType type;
  int64_t numel;
  DType dtype;
  std::shared_ptr<const void> owner;
  const uint8_t* data;
};

class Reader {
 public:
  Reader(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
         const std::string& path)
      : path_(path), zip_(std::move(owner), data, size, path) {}

  TensorFile run() {
    const ZipEntry& pkl = find_data_pkl(zip_);
    prefix_ = pkl.name.substr(0, pkl.name.size() - std::strlen("data.pkl"));
    check_byteorder();
    if (pkl.uncompressed_size > kMaxPickleBytes)
      throw Error("data.pkl is larger than 1 GiB; refusing to unpickle", path_);
    ZipBytes pkl_bytes = zip_.read(pkl, /*verify_crc=*/true);
    pickle::Document doc = pickle::unpickle(pkl_bytes.data, pkl_bytes.size, path_);
    TensorFile out;
    out.path = path_;
    out.format = "pytorch-zip";
    for (const auto& entry : flatten_state_dict(*doc.root(), path_)) {
      out.tensors.push_back({entry.name, make_tensor(entry.name, *entry.tensor)});
    }
    return out;
  }

 private:
  void check_byteorder() {
    const ZipEntry* e = zip_.find(prefix_ + "byteorder");
    if (!e) return;  // older torch writes none: little-endian
    if (e->uncompressed_size > 64) throw Error("byteorder record is implausibly large", path_);
    ZipBytes b = zip_.read(*e, /*verify_crc=*/true);
    const std::string order(reinterpret_cast<const char*>(b.data), b.size);
    if (order == "little") return;
    if (order == "big")
      throw Error(
          "big-endian checkpoint (byteorder 'big'): not supported; re-save it on a "
          "little-endian machine",
          path_);
    throw Error("unknown byteorder record '" + order.substr(0, 16) + "'", path_);
  }

  const Storage& storage(const pickle::Object& s) {
    auto it = storages_.find(s.text);
    if (it != storages_.end()) {
      if (it->second.type != s.storage_type || it->second.numel != s.storage_numel) {
        throw Error("storage '" + s.text + "' is referenced both as " +
                        std::to_string(s.storage_numel) + " x " +
                        pickle::storage_type_name(s.storage_type) + " and as " +
                        std::to_string(it->second.numel) + " x " +
                        pickle::storage_type_name(it->second.type),
                    path_);
      }
      return it->second;
    }
    if (s.text.empty() || s.text.find('/') != std::string::npos || s.text == "..")
      throw Error("invalid storage key '" + s.text + "'", path_);
    const std::string entry_name = prefix_ + "data/" + s.text;
    const ZipEntry* e = zip_.find(entry_name);
    if (!e)
      throw Error(
          "storage '" + s.text + "' is missing from the archive (no entry '" + entry_name + "')",
          path_);
    const uint64_t es = pickle::storage_element_size(s.storage_type);
    const uint64_t numel = static_cast<uint64_t>(s.storage_numel);
    if (numel > std::numeric_limits<uint64_t>::max() / es || numel * es != e->uncompressed_size) {
      throw Error("storage '" + s.text + "' should hold " + std::to_string(s.storage_numel) +
                      " x " + pickle::storage_type_name(s.storage_type) + " but its entry has " +
                      std::to_string(e->uncompressed_size) + " bytes",
                  path_);
    }
    ZipBytes bytes = zip_.read(*e);
    Storage st{s.storage_type, s.storage_numel, stored_dtype(s.storage_type), bytes.owner,
               bytes.data};
    convert_if_needed(&st, es);
    return storages_.emplace(s.text, std::move(st)).first->second;
  }

  // Storages the engine cannot use as they are (f64, i16, i8, or misaligned) become owned copies.
  static void convert_if_needed(Storage* st, size_t element_size) {
    const bool aligned = reinterpret_cast<uintptr_t>(st->data) % element_size == 0;
    const bool same_type = dtype_size(st->dtype) == element_size;
    if (aligned && same_type) return;
    auto copy = std::make_shared<Tensor>(Tensor::empty({st->numel}, st->dtype));
    void* dst = copy->raw_mutable();
    const uint8_t* src = st->data;
    const size_t n = static_cast<size_t>(st->numel);
    switch (st->type) {
      case StorageType::Double:
        for (size_t i = 0; i < n; ++i) {
          double v;
          std::memcpy(&v, src + 8 * i, 8);
          static_cast<float*>(dst)[i] = static_cast<float>(v);
        }
        break;
      case StorageType::Short:
        for (size_t i = 0; i < n; ++i) {
          int16_t v;
          std::memcpy(&v, src + 2 * i, 2);
          static_cast<int32_t*>(dst)[i] = v;
        }
        break;
      case StorageType::Char:
        for (size_t i = 0; i < n; ++i) static_cast<int32_t*>(dst)[i] = static_cast<int8_t>(src[i]);
        break;
      default:
        if (n) std::memcpy(dst, src, n * element_size);  // only misaligned
        break;
    }
    st->data = static_cast<const uint8_t*>(copy->raw());
    st->owner = std::shared_ptr<const void>(copy, copy->raw());
  }

  Tensor make_tensor(const std::string& name, const pickle::Object& t) {
    const Storage& st = storage(*t.storage);
    const size_t rank = t.size.size();
    if (rank > kMaxRank)
      throw Error("tensor rank " + std::to_string(rank) + " above 16", path_, name);
    if (t.storage_offset < 0) throw Error("negative storage offset", path_, name);
    // Highest element index reached; overflow-checked in unsigned arithmetic.
    uint64_t last = static_cast<uint64_t>(t.storage_offset);
    constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    // The product of the non-zero sizes must fit, so that any partial product the tensor code
    // forms (strides of a contiguous copy, ...) cannot overflow either.
    uint64_t nonzero_product = 1;
    bool empty = false;
    for (size_t d = 0; d < rank; ++d) {
      if (t.size[d] < 0 || t.stride[d] < 0)
        throw Error("negative size or stride " + shape_str(t.size) + " / " + shape_str(t.stride),
                    path_, name);
      const uint64_t s = static_cast<uint64_t>(t.size[d]);
      if (s == 0) {
        empty = true;
        continue;
      }
      if (nonzero_product > kMax / s)
        throw Error("shape " + shape_str(t.size) + " overflows", path_, name);
      nonzero_product *= s;
    }
    const uint64_t numel = empty ? 0 : nonzero_product;
    const uint64_t storage_numel = static_cast<uint64_t>(st.numel);
    if (numel == 0) {
      if (last > storage_numel)
        throw Error("storage offset " + std::to_string(t.storage_offset) + " past the storage of " +
                        std::to_string(st.numel) + " elements",
                    path_, name);
    } else {
      for (size_t d = 0; d < rank; ++d) {
        const uint64_t span = static_cast<uint64_t>(t.size[d] - 1);
        const uint64_t stride = static_cast<uint64_t>(t.stride[d]);
        if (stride != 0 && span > (kMax - last) / stride) {
          last = kMax;
          break;
        }
        last += span * stride;
      }
      if (last >= storage_numel) {
        throw Error("size " + shape_str(t.size) + ", stride " + shape_str(t.stride) +
                        " and storage offset " + std::to_string(t.storage_offset) +
                        " reach past the storage '" + t.storage->text + "' of " +
                        std::to_string(st.numel) + " elements",
                    path_, name);
      }
    }
    if (numel > storage_numel && numel > kMaxExpandedElements) {
      throw Error("a view of " + std::to_string(numel) + " elements over a storage of " +
                      std::to_string(st.numel) + " (repeating strides) is implausible",
                  path_, name);
    }
    const uint8_t* first = st.data + static_cast<size_t>(t.storage_offset) * dtype_size(st.dtype);
    return Tensor::view_of(st.owner, first, t.size, st.dtype, t.stride);
  }

  std::string path_;
  ZipArchive zip_;
  std::string prefix_;
  std::unordered_map<std::string, Storage> storages_;
};

}  // namespace

TensorFile parse_pytorch(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                         const std::string& path) {
  return Reader(std::move(owner), data, size, path).run();
}

TensorFile read_pytorch(const std::string& path) {
  auto file = MappedFile::open(path);
  const uint8_t* data = file->data();
  const size_t size = file->size();
  return parse_pytorch(std::shared_ptr<const void>(file, data), data, size, path);
}

}  // namespace ipa
