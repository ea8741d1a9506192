// Loaded engines and embedders, kept up to a memory budget (`--max-memory`), least recently
// used evicted first. An entry's size is the larger of its weight files' bytes and the growth
// of the process's resident memory while it loaded (docs/server.md: the estimate). An evicted
// engine that a job still uses is freed when that job ends (shared ownership).
#pragma once
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "ipadapter/embedder.h"
#include "ipadapter/engine.h"

namespace ipa::server {

// What identifies an engine: every model file and the compute settings.
std::string engine_key(const EngineOptions& o);
std::string embedder_key(const EmbedderOptions& o);

// Bytes of the weight files a model folder, pipeline folder or file holds (a folder's largest
// weights file per subfolder: the one a loader reads).
uint64_t weights_bytes(const std::string& path);

struct CacheStats {
  int entries = 0;
  uint64_t bytes = 0, budget = 0;
  int loads = 0, evictions = 0;
};

class EngineCache {
 public:
  EngineCache(uint64_t budget_bytes, LogFn log) : budget_(budget_bytes), log_(std::move(log)) {}

  // The engine for these options, loaded (and others evicted) when not cached. Loads run one
  // at a time; lookups never wait for a load. Throws ipa::Error when the files alone exceed
  // the budget, or what Engine::load throws.
  std::shared_ptr<Engine> engine(const EngineOptions& o);
  // The engine if it is loaded now (to check a request before queueing it), else null.
  std::shared_ptr<Engine> find_engine(const EngineOptions& o);
  std::shared_ptr<ImageEmbedder> embedder(const EmbedderOptions& o);

  CacheStats stats();
  void clear();

 private:
  using Model = std::variant<std::shared_ptr<Engine>, std::shared_ptr<ImageEmbedder>>;
  struct Entry {
    std::string key;
    Model model;
    uint64_t bytes = 0;
  };
  Model get(const std::string& key, uint64_t estimate, const std::function<Model()>& load);
  // mutex_ held; the evicted models are returned so they are freed after it is released.
  std::vector<Model> evict_to_fit(uint64_t incoming);

  const uint64_t budget_;
  LogFn log_;
  std::mutex mutex_;          // entries_ and the counters
  std::mutex load_mutex_;     // one load at a time
  std::list<Entry> entries_;  // most recently used first
  uint64_t bytes_ = 0;
  int loads_ = 0, evictions_ = 0;
};

}  // namespace ipa::server
