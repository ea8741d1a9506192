#include "bench/random_weights.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "formats/safetensors.h"
#include "tensor/half.h"

namespace ipa::bench {

namespace {

// A zero F32 placeholder of `shape` over fresh anonymous pages: reading maps the shared zero
// page, so a whole model of placeholders costs address space, not memory.
Tensor zero_placeholder(const Shape& shape) {
  const size_t bytes = std::max<size_t>(static_cast<size_t>(numel_of(shape)) * sizeof(float), 1);
  void* p = mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    throw Error("cannot reserve " + std::to_string(bytes) + " bytes of address space");
  std::shared_ptr<const void> owner(
      p, [bytes](const void* q) { munmap(const_cast<void*>(q), bytes); });
  return Tensor::view_of(owner, p, shape, DType::F32);
}

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Tensor RecordingWeightStore::absent(const std::string& name, const Shape& shape) const {
  auto it = std::lower_bound(names_.begin(), names_.end(), name);
  if (it == names_.end() || *it != name) {
    names_.insert(it, name);
    specs_.push_back({name, shape});
  } else {
    for (const auto& spec : specs_) {
      if (spec.name == name && spec.shape != shape) {
        throw Error::shape_mismatch("synthesized weights", name, spec.shape, shape);
      }
    }
  }
  return zero_placeholder(shape);
}

int64_t RecordingWeightStore::parameters() const {
  int64_t n = 0;
  for (const auto& s : specs_) n += numel_of(s.shape);
  return n;
}

Tensor random_f16_tensor(const std::string& name, const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::F16);
  const int64_t n = t.numel();
  float center = 0.f, bound = 0.02f;
  if (shape.size() >= 2) {
    const int64_t fan_in = shape[0] > 0 ? n / shape[0] : 1;
    bound = 1.f / std::sqrt(static_cast<float>(std::max<int64_t>(fan_in, 1)));
  } else if (ends_with(name, ".weight")) {
    center = 1.f;
  }
  uint16_t* out = t.data<uint16_t>();
  const uint64_t base = seed ^ fnv1a(name);
  // Independent streams per 64 Ki-element chunk: same values for any thread count.
  constexpr int64_t kChunk = 1 << 16;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t c = 0; c < chunks; ++c) {
    uint64_t state = base + static_cast<uint64_t>(c) * 0xD1B54A32D192ED03ull;
    float buf[256];
    for (int64_t i0 = c * kChunk; i0 < std::min(n, (c + 1) * kChunk); i0 += 256) {
      const int64_t m = std::min<int64_t>(256, n - i0);
      for (int64_t j = 0; j < m; j += 2) {
        const uint64_t r = splitmix64(state);
        // Two uniforms in [-1, 1) from 24 bits each.
        buf[j] = static_cast<float>(static_cast<int32_t>(r >> 40) - (1 << 23)) * (1.f / (1 << 23));
        if (j + 1 < m) {
          buf[j + 1] = static_cast<float>(static_cast<int32_t>((r >> 8) & 0xFFFFFF) - (1 << 23)) *
                       (1.f / (1 << 23));
        }
      }
      for (int64_t j = 0; j < m; ++j) buf[j] = center + bound * buf[j];
      f32_to_f16(buf, out + i0, static_cast<size_t>(m));
    }
  }
  return t;
}

void write_random_safetensors(const std::string& path, const std::vector<TensorSpec>& specs,
                              uint64_t seed,
                              const std::function<void(int64_t, int64_t)>& progress) {
  int64_t total = 0, done = 0;
  for (const auto& s : specs) total += numel_of(s.shape);
  std::vector<NamedTensor> tensors;
  tensors.reserve(specs.size());
  int64_t last_report = 0;
  for (const auto& s : specs) {
    tensors.push_back({s.name, random_f16_tensor(s.name, s.shape, seed)});
    done += numel_of(s.shape);
    if (progress && (done - last_report >= total / 4 || done == total)) {
      progress(done, total);
      last_report = done;
    }
  }
  const std::string tmp = path + ".partial";
  write_safetensors(tmp, tensors, {{"format", "pt"}, {"generator", "ipadapter bench (random)"}});
  std::filesystem::rename(tmp, path);
}

}  // namespace ipa::bench
