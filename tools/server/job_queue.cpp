#include "job_queue.h"

#include <algorithm>
#include <cmath>
#include <new>
#include <random>

#include "ipadapter/io.h"

namespace ipa::server {

namespace {

using Clock = std::chrono::steady_clock;

std::string new_job_id() {
  static std::mutex m;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lock(m);
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

const char* job_state_name(JobState s) {
  switch (s) {
    case JobState::Queued:
      return "queued";
    case JobState::Running:
      return "running";
    case JobState::Done:
      return "done";
    case JobState::Error:
      return "error";
    case JobState::Cancelled:
      return "cancelled";
  }
  return "?";
}

struct JobQueue::Job {
  std::string id;
  std::unique_ptr<ParsedRequest> request;  // released when the job ends
  std::atomic<bool> cancel{false};
  // Under JobQueue::mutex_:
  JobState state = JobState::Queued;
  uint64_t version = 1;  // bumped at every change
  int step = 0, total = 0;
  double step_elapsed_s = 0;  // since the first step began (the engine's clock)
  Clock::time_point created = Clock::now(), started, ended;
  std::string error;
  std::string parameters;
  std::vector<std::shared_ptr<const std::vector<uint8_t>>> pngs;
};

JobQueue::JobQueue(const ServerOptions& options, EngineCache& cache, LogFn log)
    : options_(options), cache_(cache), log_(std::move(log)) {
  for (int i = 0; i < std::max(1, options_.workers); ++i) workers_.emplace_back([this] { work(); });
}

JobQueue::~JobQueue() {
  stop();
}

void JobQueue::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    for (auto& [id, job] : jobs_) job->cancel = true;
  }
  work_cv_.notify_all();
  changed_cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  // Jobs still queued end as cancelled (the workers are gone).
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& job : queue_) {
    job->state = JobState::Cancelled;
    job->error = "the server stopped";
    job->request.reset();
    ++job->version;
  }
  queue_.clear();
  changed_cv_.notify_all();
}

std::optional<std::string> JobQueue::submit(ParsedRequest request) {
  auto job = std::make_shared<Job>();
  job->id = new_job_id();
  job->request = std::make_unique<ParsedRequest>(std::move(request));
  job->total = job->request->request.steps;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || static_cast<int>(queue_.size()) >= options_.queue) {
      ++counts_.rejected_full;
      return std::nullopt;
    }
    jobs_[job->id] = job;
    queue_.push_back(job);
    ++counts_.accepted;
  }
  work_cv_.notify_one();
  changed_cv_.notify_all();
  return job->id;
}

nlohmann::json JobQueue::describe(const Job& j) const {
  nlohmann::json out = {{"id", j.id},
                        {"state", job_state_name(j.state)},
                        {"step", j.step},
                        {"total", j.total},
                        {"version", j.version}};
  const Clock::time_point now = Clock::now();
  if (j.state == JobState::Queued) {
    const auto it = std::find_if(queue_.begin(), queue_.end(),
                                 [&](const std::shared_ptr<Job>& q) { return q.get() == &j; });
    out["queue_position"] = it - queue_.begin();
  }
  if (j.state == JobState::Running) {
    out["elapsed_s"] = seconds_between(j.started, now);
    // Until the first step ends the models load and encode: no estimate yet.
    out["eta_s"] = j.step > 0 ? nlohmann::json(j.step_elapsed_s / j.step * (j.total - j.step))
                              : nlohmann::json(nullptr);
  } else if (finished(j.state) && j.started != Clock::time_point{}) {
    out["elapsed_s"] = seconds_between(j.started, j.ended);
  }
  if (j.state == JobState::Error || j.state == JobState::Cancelled) out["error"] = j.error;
  if (j.state == JobState::Done) {
    out["images"] = j.pngs.size();
    out["parameters"] = j.parameters;
  }
  return out;
}

std::optional<nlohmann::json> JobQueue::status(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  return describe(*it->second);
}

std::optional<nlohmann::json> JobQueue::wait(const std::string& id, uint64_t version,
                                             std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  const std::shared_ptr<Job> job = it->second;
  changed_cv_.wait_for(lock, timeout, [&] { return job->version > version || stopping_; });
  return describe(*job);
}

bool JobQueue::cancel(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return false;
  const std::shared_ptr<Job>& job = it->second;
  job->cancel = true;
  if (job->state == JobState::Queued) {
    queue_.erase(std::remove(queue_.begin(), queue_.end(), job), queue_.end());
    job->state = JobState::Cancelled;
    job->error = "cancelled before it started";
    job->ended = Clock::now();
    job->request.reset();
    ++job->version;
    ++counts_.cancelled;
    finished_.push_back(job->id);
    changed_cv_.notify_all();
  }
  return true;
}

std::shared_ptr<const std::vector<uint8_t>> JobQueue::image(const std::string& id, size_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end() || n >= it->second->pngs.size()) return nullptr;
  return it->second->pngs[n];
}

JobCounts JobQueue::counts() {
  std::lock_guard<std::mutex> lock(mutex_);
  JobCounts c = counts_;
  c.queued = static_cast<int>(queue_.size());
  c.running = 0;
  for (const auto& [id, job] : jobs_) c.running += job->state == JobState::Running;
  return c;
}

int JobQueue::retry_after_s() {
  std::lock_guard<std::mutex> lock(mutex_);
  const double per_job = mean_job_s_ > 0 ? mean_job_s_ : 5.0;
  const double wait =
      per_job * (static_cast<double>(queue_.size()) / std::max(1, options_.workers));
  return static_cast<int>(std::clamp(std::ceil(wait), 1.0, 3600.0));
}

void JobQueue::work() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = queue_.front();
      queue_.pop_front();
      job->state = JobState::Running;
      job->started = Clock::now();
      ++job->version;
    }
    changed_cv_.notify_all();
    run(job);
  }
}

void JobQueue::finish(const std::shared_ptr<Job>& job, JobState state, const std::string& error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job->state = state;
    job->error = error;
    job->ended = Clock::now();
    job->request.reset();
    ++job->version;
    if (state == JobState::Done) ++counts_.done;
    if (state == JobState::Error) ++counts_.failed;
    if (state == JobState::Cancelled) ++counts_.cancelled;
    const double took = seconds_between(job->started, job->ended);
    mean_job_s_ = mean_job_s_ > 0 ? 0.8 * mean_job_s_ + 0.2 * took : took;
    finished_.push_back(job->id);
    while (static_cast<int>(finished_.size()) > std::max(0, options_.keep_jobs)) {
      jobs_.erase(finished_.front());
      finished_.pop_front();
    }
  }
  changed_cv_.notify_all();
  if (log_ && state != JobState::Done) {
    log_("job " + job->id + " " + job_state_name(state) + (error.empty() ? "" : ": " + error));
  }
}

void JobQueue::run(const std::shared_ptr<Job>& job) {
  const ParsedRequest& pr = *job->request;
  try {
    EngineOptions o = pr.engine_options();
    o.compute = options_.compute;
    if (pr.compute) {
      o.compute.precision = pr.compute->precision;
      o.compute.device = pr.compute->device;
    }
    if (job->cancel) throw Cancelled("cancelled");
    const std::shared_ptr<Engine> engine = cache_.engine(o);
    Callbacks callbacks;
    callbacks.on_step = [this, &job](const StepProgress& p) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        job->step = p.step;
        job->total = p.total;
        job->step_elapsed_s = p.elapsed_s;
        ++job->version;
      }
      changed_cv_.notify_all();
      return !job->cancel.load();
    };
    if (job->cancel) throw Cancelled("cancelled");
    const GenerateResult result = engine->generate(pr.request, callbacks);
    const std::string parameters = generation_parameters(engine->info(), pr.request, result);
    std::vector<std::shared_ptr<const std::vector<uint8_t>>> pngs;
    for (const auto& img : result.images) {
      pngs.push_back(std::make_shared<const std::vector<uint8_t>>(
          encode_png(img, {{"parameters", parameters}})));
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job->pngs = std::move(pngs);
      job->parameters = parameters;
    }
    finish(job, JobState::Done, "");
  } catch (const Cancelled&) {
    finish(job, JobState::Cancelled, "cancelled");
  } catch (const std::bad_alloc&) {
    finish(job, JobState::Error, "out of memory");
  } catch (const std::exception& e) {
    finish(job, JobState::Error, e.what());
  }
}

}  // namespace ipa::server
