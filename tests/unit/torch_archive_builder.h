// Test helpers that hand-assemble what torch.save writes: pickle bytes (opcode by opcode) and
// the zip archive around them (with minizip's writer), so reader tests can build well-formed and
// deliberately broken checkpoints without PyTorch.
#pragma once
#include <minizip/zip.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "base/error.h"

namespace ipa::test {

using Bytes = std::vector<uint8_t>;

// Emits pickle opcodes. Each method appends one opcode (with its argument).
class PickleWriter {
 public:
  PickleWriter& raw(const std::string& s) {
    bytes_.insert(bytes_.end(), s.begin(), s.end());
    return *this;
  }
  PickleWriter& op(uint8_t c) {
    bytes_.push_back(c);
    return *this;
  }
  PickleWriter& proto(int v = 2) { return op(0x80).op(static_cast<uint8_t>(v)); }
  PickleWriter& stop() { return op('.'); }
  PickleWriter& mark() { return op('('); }
  PickleWriter& empty_dict() { return op('}'); }
  PickleWriter& empty_list() { return op(']'); }
  PickleWriter& empty_tuple() { return op(')'); }
  PickleWriter& tuple() { return op('t'); }
  PickleWriter& tuple_n(int n) { return op(static_cast<uint8_t>(0x84 + n)); }  // TUPLE1..3
  PickleWriter& setitem() { return op('s'); }
  PickleWriter& setitems() { return op('u'); }
  PickleWriter& append() { return op('a'); }
  PickleWriter& reduce() { return op('R'); }
  PickleWriter& build() { return op('b'); }
  PickleWriter& persid() { return op('Q'); }
  PickleWriter& none() { return op('N'); }
  PickleWriter& boolean(bool b) { return op(b ? 0x88 : 0x89); }
  PickleWriter& put(uint8_t i) { return op('q').op(i); }
  PickleWriter& get(uint8_t i) { return op('h').op(i); }
  PickleWriter& str(const std::string& s) {  // BINUNICODE
    op('X');
    le(s.size(), 4);
    return raw(s);
  }
  PickleWriter& short_str(const std::string& s) {  // SHORT_BINUNICODE (protocol 4)
    op(0x8c).op(static_cast<uint8_t>(s.size()));
    return raw(s);
  }
  PickleWriter& global(const std::string& module, const std::string& name) {
    return op('c').raw(module + "\n" + name + "\n");
  }
  PickleWriter& integer(int64_t v) {
    if (v >= 0 && v < 256) return op('K').op(static_cast<uint8_t>(v));
    if (v >= 0 && v < 65536) {
      op('M');
      return le(static_cast<uint64_t>(v), 2);
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      return le(static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(v))), 4);
    }
    op(0x8a).op(8);
    return le(static_cast<uint64_t>(v), 8);
  }
  PickleWriter& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  PickleWriter& int_tuple(const std::vector<int64_t>& v) {
    mark();
    for (int64_t x : v) integer(x);
    return tuple();
  }
  // torch._utils._rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size,
  // stride, False, OrderedDict()) — exactly the shape torch.save writes.
  PickleWriter& tensor(const std::string& storage_type, const std::string& key, int64_t numel,
                       int64_t offset, const std::vector<int64_t>& size,
                       const std::vector<int64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2");
    mark();
    mark().str("storage").global("torch", storage_type).str(key).str("cpu").integer(numel).tuple();
    persid();
    integer(offset).int_tuple(size).int_tuple(stride).boolean(false);
    global("collections", "OrderedDict").empty_tuple().reduce();
    tuple();
    return reduce();
  }
  const Bytes& bytes() const { return bytes_; }

 private:
  Bytes bytes_;
};

struct ZipItem {
  std::string name;
  Bytes data;
  bool deflate = false;
  bool align64 = true;  // pad the local header so data starts on a 64-byte boundary (as torch)
  int64_t declared_size = -1;  // >= 0: lie about the uncompressed size in the headers
  bool zip64 = false;          // ZIP64 extra field in the local header
};

inline Bytes to_bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

inline Bytes floats_bytes(const std::vector<float>& v) {
  Bytes b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

inline Bytes read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_all(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

inline Bytes raw_deflate(const Bytes& in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  Bytes out(deflateBound(&z, static_cast<uLong>(in.size())) + 16);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Writes the items into a zip at `path` with minizip (raw mode, so every size is known and
// can be falsified) and returns the file's bytes.
inline Bytes write_zip(const std::string& path, const std::vector<ZipItem>& items) {
  zipFile zf = zipOpen64(path.c_str(), APPEND_STATUS_CREATE);
  if (!zf) throw Error("test: cannot create zip", path);
  uint64_t offset = 0;  // where the next local header starts (no zip64, no data descriptors)
  for (const auto& it : items) {
    const Bytes payload = it.deflate ? raw_deflate(it.data) : it.data;
    zip_fileinfo info{};
    Bytes extra;
    if (it.align64) {
      const uint64_t header = 30 + it.name.size() + 4 + (it.zip64 ? 20 : 0);
      const uint64_t pad = (64 - (offset + header) % 64) % 64;
      extra = {0x46, 0x42, static_cast<uint8_t>(pad), 0};  // id "FB" as torch uses, pad bytes
      extra.resize(4 + pad, 'Z');
    }
    if (zipOpenNewFileInZip2_64(zf, it.name.c_str(), &info, extra.empty() ? nullptr : extra.data(),
                                static_cast<uInt>(extra.size()), nullptr, 0, nullptr,
                                it.deflate ? Z_DEFLATED : 0, it.deflate ? 6 : 0, /*raw=*/1,
                                it.zip64 ? 1 : 0) != ZIP_OK)
      throw Error("test: zipOpenNewFileInZip2_64 failed", path);
    if (!payload.empty() &&
        zipWriteInFileInZip(zf, payload.data(), static_cast<unsigned>(payload.size())) != ZIP_OK)
      throw Error("test: zipWriteInFileInZip failed", path);
    const uLong crc =
        crc32(crc32(0L, Z_NULL, 0), it.data.data(), static_cast<uInt>(it.data.size()));
    const uint64_t size =
        it.declared_size >= 0 ? static_cast<uint64_t>(it.declared_size) : it.data.size();
    zipCloseFileInZipRaw64(zf, size, crc);
    offset += 30 + it.name.size() + extra.size() + (it.zip64 ? 20 : 0) + payload.size();
  }
  zipClose(zf, nullptr);
  return read_all(path);
}

// Rewrites the end of a (comment-less) zip the way a ZIP64 writer ends one: a ZIP64
// end-of-central-directory record and locator, then a classic record whose counts and offsets
// say "see ZIP64" (0xFFFF / 0xFFFFFFFF) — what a checkpoint over 4 GB has.
inline Bytes with_zip64_end(const Bytes& zip) {
  auto rd = [&](size_t at, int n) {
    uint64_t v = 0;
    for (int i = n; i-- > 0;) v = (v << 8) | zip[at + i];
    return v;
  };
  auto put = [](Bytes& b, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  const size_t eocd = zip.size() - 22;
  if (rd(eocd, 4) != 0x06054b50) throw Error("test: zip has a comment or no end record");
  const uint64_t entries = rd(eocd + 10, 2), cd_size = rd(eocd + 12, 4),
                 cd_offset = rd(eocd + 16, 4);
  Bytes out(zip.begin(), zip.begin() + static_cast<std::ptrdiff_t>(eocd));
  const uint64_t record_at = out.size();
  put(out, 0x06064b50, 4);  // ZIP64 end of central directory record
  put(out, 44, 8);
  put(out, 45, 2);
  put(out, 45, 2);
  put(out, 0, 4);
  put(out, 0, 4);
  put(out, entries, 8);
  put(out, entries, 8);
  put(out, cd_size, 8);
  put(out, cd_offset, 8);
  put(out, 0x07064b50, 4);  // ZIP64 locator
  put(out, 0, 4);
  put(out, record_at, 8);
  put(out, 1, 4);
  put(out, 0x06054b50, 4);  // classic end record pointing to the above
  put(out, 0, 2);
  put(out, 0, 2);
  put(out, 0xffff, 2);
  put(out, 0xffff, 2);
  put(out, 0xffffffff, 4);
  put(out, 0xffffffff, 4);
  put(out, 0, 2);
  return out;
}

// The usual archive: <top>/data.pkl, <top>/data/<key> per storage, <top>/version.
inline std::vector<ZipItem> torch_items(
    const std::string& top, const Bytes& pickle,
    const std::vector<std::pair<std::string, Bytes>>& storages) {
  std::vector<ZipItem> items;
  items.push_back({top + "/data.pkl", pickle});
  for (const auto& [key, data] : storages) items.push_back({top + "/data/" + key, data});
  items.push_back({top + "/version", to_bytes("3\n")});
  return items;
}

}  // namespace ipa::test
