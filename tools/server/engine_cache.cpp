#include "engine_cache.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <system_error>

#include "bench/process_memory.h"
#include "ipadapter/error.h"

namespace fs = std::filesystem;

namespace ipa::server {

namespace {

bool is_weights(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".safetensors" || ext == ".bin" || ext == ".ckpt" || ext == ".pt" ||
         ext == ".pth" || ext == ".pdparams";
}

uint64_t mib(uint64_t bytes) {
  return bytes >> 20;
}

}  // namespace

std::string engine_key(const EngineOptions& o) {
  // Appended piece by piece (GCC 12 warns falsely on `"literal" + std::string&&`).
  std::string k = "engine|";
  for (const std::string& part : {o.base, std::string("|config="), o.base_config,
                                  std::string("|vae="), o.vae, std::string("|unet="), o.unet}) {
    k += part;
  }
  for (const auto& a : o.ip_adapters) {
    for (const std::string& part : {std::string("|ip="), a.file, std::string(","), a.image_encoder})
      k += part;
  }
  for (const auto& c : o.controlnets) {
    for (const std::string& part : {std::string("|cn="), c.file, std::string(","), c.config})
      k += part;
  }
  for (const auto& l : o.loras) {
    for (const std::string& part : {std::string("|lora="), l.file, std::string(":")}) k += part;
    k += std::to_string(l.weight);
  }
  for (const std::string& part :
       {std::string("|rev="), o.revision, std::string("|var="), o.variant})
    k += part;
  k += '|';
  k += precision_name(o.compute.precision);
  k += "|t";
  k += std::to_string(o.compute.threads);
  k += "|d";
  k += o.compute.device;
  return k;
}

std::string embedder_key(const EmbedderOptions& o) {
  std::string k = "embedder|";
  for (const std::string& part : {o.ip_adapter, std::string("|"), o.image_encoder}) k += part;
  k += '|';
  k += precision_name(o.compute.precision);
  k += "|t";
  k += std::to_string(o.compute.threads);
  k += "|d";
  k += o.compute.device;
  return k;
}

uint64_t weights_bytes(const std::string& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return fs::file_size(path, ec);
  if (!fs::is_directory(path, ec)) return 0;
  // The loaders read one weights file per model folder; a pipeline has one folder per part.
  uint64_t largest_here = 0, below = 0;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    std::error_code ec2;
    if (e.is_directory(ec2)) {
      below += weights_bytes(e.path().string());
    } else if (is_weights(e.path())) {
      largest_here = std::max<uint64_t>(largest_here, e.file_size(ec2));
    }
  }
  return largest_here + below;
}

std::shared_ptr<Engine> EngineCache::engine(const EngineOptions& o) {
  uint64_t estimate = weights_bytes(o.base) + (o.unet.empty() ? 0 : weights_bytes(o.unet));
  for (const auto& a : o.ip_adapters) {
    estimate +=
        weights_bytes(a.file) + (a.image_encoder.empty() ? 0 : weights_bytes(a.image_encoder));
  }
  for (const auto& c : o.controlnets) estimate += weights_bytes(c.file);
  EngineOptions options = o;
  options.one_shot = false;
  options.log = log_;
  return std::get<std::shared_ptr<Engine>>(get(engine_key(o), estimate, [&] {
    return Model(std::shared_ptr<Engine>(Engine::load(options)));
  }));
}

std::shared_ptr<Engine> EngineCache::find_engine(const EngineOptions& o) {
  const std::string key = engine_key(o);
  std::lock_guard<std::mutex> lock(mutex_);
  for (const Entry& e : entries_) {
    if (e.key == key) return std::get<std::shared_ptr<Engine>>(e.model);
  }
  return nullptr;
}

std::shared_ptr<ImageEmbedder> EngineCache::embedder(const EmbedderOptions& o) {
  const uint64_t estimate =
      weights_bytes(o.ip_adapter) + (o.image_encoder.empty() ? 0 : weights_bytes(o.image_encoder));
  EmbedderOptions options = o;
  options.log = log_;
  return std::get<std::shared_ptr<ImageEmbedder>>(get(embedder_key(o), estimate, [&] {
    return Model(std::shared_ptr<ImageEmbedder>(ImageEmbedder::load(options)));
  }));
}

EngineCache::Model EngineCache::get(const std::string& key, uint64_t estimate,
                                    const std::function<Model()>& load) {
  auto lookup = [&]() -> std::optional<Model> {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->key == key) {
        entries_.splice(entries_.begin(), entries_, it);  // most recently used
        return it->model;
      }
    }
    return std::nullopt;
  };
  if (auto m = lookup()) return *m;
  std::lock_guard<std::mutex> loading(load_mutex_);
  if (auto m = lookup()) return *m;  // loaded while this one waited
  if (estimate > budget_) {
    throw Error("the models need about " + std::to_string(mib(estimate)) +
                " MiB (their files), more than --max-memory (" + std::to_string(mib(budget_)) +
                " MiB)");
  }
  std::vector<Model> evicted;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    evicted = evict_to_fit(estimate);
  }
  evicted.clear();
  const double rss_before = bench::current_rss_mb();
  Model model = load();
  const double grown = (bench::current_rss_mb() - rss_before) * 1048576.0;
  const uint64_t bytes = std::max<uint64_t>(estimate, grown > 0 ? static_cast<uint64_t>(grown) : 0);
  std::unique_lock<std::mutex> lock(mutex_);
  evicted = evict_to_fit(bytes);
  entries_.push_front({key, model, bytes});
  bytes_ += bytes;
  ++loads_;
  lock.unlock();
  evicted.clear();
  if (log_) log_("loaded (" + std::to_string(mib(bytes)) + " MiB): " + key);
  return model;
}

std::vector<EngineCache::Model> EngineCache::evict_to_fit(uint64_t incoming) {
  std::vector<Model> evicted;
  while (!entries_.empty() && bytes_ + incoming > budget_) {
    if (log_) log_("evicted (least recently used): " + entries_.back().key);
    bytes_ -= entries_.back().bytes;
    evicted.push_back(std::move(entries_.back().model));
    entries_.pop_back();
    ++evictions_;
  }
  return evicted;
}

CacheStats EngineCache::stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  return {static_cast<int>(entries_.size()), bytes_, budget_, loads_, evictions_};
}

void EngineCache::clear() {
  std::list<Entry> gone;
  std::lock_guard<std::mutex> lock(mutex_);
  gone.swap(entries_);
  bytes_ = 0;
}

}  // namespace ipa::server
