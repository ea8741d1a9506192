// Generation jobs: a bounded queue of accepted requests, worker threads that run them on cached
// engines, and each job's state for GET, SSE and the images. A job is never dropped before it
// ends (done, error or cancelled); finished jobs are kept (`--keep-jobs`) and then forgotten,
// oldest first.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine_cache.h"
#include "ipadapter/request_json.h"
#include "server_options.h"

namespace ipa::server {

enum class JobState { Queued, Running, Done, Error, Cancelled };
const char* job_state_name(JobState s);
inline bool finished(JobState s) {
  return s == JobState::Done || s == JobState::Error || s == JobState::Cancelled;
}

struct JobCounts {
  int queued = 0, running = 0;
  uint64_t accepted = 0, done = 0, failed = 0, cancelled = 0, rejected_full = 0;
};

class JobQueue {
 public:
  JobQueue(const ServerOptions& options, EngineCache& cache, LogFn log);
  ~JobQueue();  // stop()

  // The id of the queued job, or nullopt when the queue is full (429).
  std::optional<std::string> submit(ParsedRequest request);

  // The job as JSON (GET /v1/jobs/{id}), or nullopt for an unknown id.
  std::optional<nlohmann::json> status(const std::string& id);

  // Waits until the job changed after `version` (or `timeout`, or stop()); the JSON with
  // "version" set. nullopt for an unknown id.
  std::optional<nlohmann::json> wait(const std::string& id, uint64_t version,
                                     std::chrono::milliseconds timeout);

  // Cancels a queued job at once, a running one before its next step. False for an unknown id.
  bool cancel(const std::string& id);

  // The PNG (with its `parameters` chunk) of image n of a done job; null when there is none.
  std::shared_ptr<const std::vector<uint8_t>> image(const std::string& id, size_t n);

  JobCounts counts();
  // Seconds a client should wait before retrying a full queue (from recent job times).
  int retry_after_s();
  // Cancels everything and joins the workers; waiters wake.
  void stop();

 private:
  struct Job;
  void work();
  void run(const std::shared_ptr<Job>& job);
  nlohmann::json describe(const Job& job) const;  // mutex_ held
  void finish(const std::shared_ptr<Job>& job, JobState state, const std::string& error);

  const ServerOptions options_;
  EngineCache& cache_;
  LogFn log_;
  std::mutex mutex_;
  std::condition_variable work_cv_;     // a job was queued, or stop
  std::condition_variable changed_cv_;  // any job changed
  std::map<std::string, std::shared_ptr<Job>> jobs_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::deque<std::string> finished_;  // ids, oldest first
  JobCounts counts_;
  double mean_job_s_ = 0;  // running mean of recent job durations
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace ipa::server
