#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/mapped_file.h"
#include "tensor/block_pool.h"

namespace ipa {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference implementation's limit
constexpr int kMaxRank = 16;

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& name, const nlohmann::json& v, uint64_t data_size,
                  const std::string& path) {
  if (!v.is_object()) throw Error("header entry is not an object", path, name);
  if (!v.contains("dtype") || !v["dtype"].is_string())
    throw Error("header entry has no string 'dtype'", path, name);
  Entry e;
  e.name = name;
  const std::string dt = v["dtype"].get<std::string>();
  if (!dtype_from_name(dt, &e.dtype)) throw Error("unsupported dtype '" + dt + "'", path, name);
  if (!v.contains("shape") || !v["shape"].is_array())
    throw Error("header entry has no 'shape' array", path, name);
  if (v["shape"].size() > kMaxRank) throw Error("rank above 16", path, name);
  // The product of the non-zero sizes must fit in int64: then no partial product the tensor
  // code forms (numel, contiguous strides) can overflow, even for an empty tensor.
  constexpr uint64_t kMaxCount = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t nonzero_product = 1;
  bool empty = false;
  for (const auto& d : v["shape"]) {
    if (!d.is_number_unsigned()) throw Error("shape holds a non-integer or negative value", path, name);
    const uint64_t s = d.get<uint64_t>();
    if (s != 0 && nonzero_product > kMaxCount / s) throw Error("shape overflows", path, name);
    if (s == 0) empty = true;
    else nonzero_product *= s;
    e.shape.push_back(static_cast<int64_t>(s));
  }
  const uint64_t count = empty ? 0 : nonzero_product;
  if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2 ||
      !v["data_offsets"][0].is_number_unsigned() || !v["data_offsets"][1].is_number_unsigned())
    throw Error("'data_offsets' must be two non-negative integers", path, name);
  e.begin = v["data_offsets"][0].get<uint64_t>();
  e.end = v["data_offsets"][1].get<uint64_t>();
  if (e.begin > e.end || e.end > data_size) {
    throw Error("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                    ") outside the data section of " + std::to_string(data_size) + " bytes",
                path, name);
  }
  const uint64_t es = dtype_size(e.dtype);
  if (count > std::numeric_limits<uint64_t>::max() / es || count * es != e.end - e.begin) {
    throw Error(std::string("byte size ") + std::to_string(e.end - e.begin) + " does not match " +
                    dt + shape_str(e.shape),
                path, name);
  }
  return e;
}

}  // namespace

TensorFile parse_safetensors(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                             const std::string& path) {
  if (size < 8) throw Error("not a safetensors file: shorter than its 8-byte header length", path);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
  if (header_len > kMaxHeaderBytes)
    throw Error("safetensors header length " + std::to_string(header_len) + " exceeds 100 MiB", path);
  if (header_len > size - 8) {
    throw Error("truncated: header says " + std::to_string(header_len) + " bytes, file has " +
                    std::to_string(size - 8) + " after the length",
                path);
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(data + 8, data + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed safetensors header JSON: ") + e.what(), path);
  }
  if (!header.is_object()) throw Error("safetensors header is not a JSON object", path);

  const uint8_t* base = data + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  TensorFile out;
  out.path = path;
  out.format = "safetensors";
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) throw Error("__metadata__ is not an object", path);
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) throw Error("__metadata__ value is not a string", path, m.key());
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(it.key(), it.value(), data_size, path));
  }
  // Non-overlapping data: in start-offset order, every non-empty range must begin at or after
  // the furthest end seen so far (comparing neighbours only misses a range nested inside an
  // earlier one when an empty tensor sorts between them).
  std::vector<const Entry*> by_offset;
  for (const auto& e : entries) by_offset.push_back(&e);
  std::stable_sort(by_offset.begin(), by_offset.end(),
                   [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  const Entry* furthest = nullptr;
  for (const Entry* e : by_offset) {
    if (e->begin == e->end) continue;
    if (furthest && e->begin < furthest->end)
      throw Error("data of '" + furthest->name + "' and '" + e->name + "' overlap", path);
    if (!furthest || e->end > furthest->end) furthest = e;
  }
  // File order = offset order (the order writers use).
  for (const Entry* e : by_offset) {
    const uint8_t* p = base + e->begin;
    Tensor t;
    if (reinterpret_cast<uintptr_t>(p) % dtype_size(e->dtype) == 0) {
      t = Tensor::view_of(owner, p, e->shape, e->dtype);
    } else {
      // Misaligned data (legal in the format) is copied so every kernel sees aligned memory.
      t = Tensor::empty(e->shape, e->dtype);
      std::memcpy(t.raw_mutable(), p, e->end - e->begin);
    }
    out.tensors.push_back({e->name, std::move(t)});
  }
  return out;
}

TensorFile read_safetensors(const std::string& path) {
  auto file = MappedFile::open(path);
  const uint8_t* data = file->data();
  const size_t size = file->size();
  return parse_safetensors(std::shared_ptr<const void>(file, data), data, size, path);
}

TensorFile read_safetensors_sharded(const std::string& index_path) {
  std::ifstream in(index_path);
  if (!in) throw Error("cannot open shard index", index_path);
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed shard index JSON: ") + e.what(), index_path);
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw Error("shard index has no 'weight_map' object", index_path);
  const auto dir = std::filesystem::path(index_path).parent_path();
  std::map<std::string, std::vector<std::string>> names_by_shard;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    if (!it.value().is_string()) throw Error("weight_map value is not a string", index_path, it.key());
    const std::string shard = it.value().get<std::string>();
    if (shard.find('/') != std::string::npos || shard == "..")
      throw Error("shard name '" + shard + "' leaves the folder", index_path, it.key());
    names_by_shard[shard].push_back(it.key());
  }
  TensorFile out;
  out.path = index_path;
  out.format = "safetensors-sharded";
  for (const auto& [shard, names] : names_by_shard) {
    TensorFile f = read_safetensors((dir / shard).string());
    for (const auto& name : names) {
      const Tensor* t = f.find(name);
      if (!t) throw Error("listed in the shard index but missing from " + shard, index_path, name);
      out.tensors.push_back({name, *t});
    }
    for (const auto& [k, v] : f.metadata) out.metadata[k] = v;
  }
  return out;
}

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::vector<Tensor> contiguous;
  for (const auto& nt : tensors) {
    Tensor c = nt.tensor.contiguous();
    header[nt.name] = {{"dtype", dtype_name(c.dtype())},
                       {"shape", c.shape()},
                       {"data_offsets", {offset, offset + c.nbytes()}}};
    offset += c.nbytes();
    contiguous.push_back(std::move(c));
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("cannot write", path);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(h.size()) >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  for (const auto& c : contiguous)
    out.write(static_cast<const char*>(c.raw()), static_cast<std::streamsize>(c.nbytes()));
  if (!out) throw Error("write failed", path);
}

}  // namespace ipa
