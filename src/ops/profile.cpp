#include "ops/profile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>

namespace ipa::ops::profile {

namespace {

std::atomic<bool> g_enabled{false};
std::mutex g_mu;
std::map<std::string, OpStats>& table() {
  static std::map<std::string, OpStats> t;
  return t;
}
thread_local int t_depth = 0;
thread_local double t_nested_flops = 0;  // FLOPs of nested ops, credited to the outermost

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void sort_by_time(std::vector<OpStats>& v) {
  std::stable_sort(v.begin(), v.end(),
                   [](const OpStats& a, const OpStats& b) { return a.seconds > b.seconds; });
}

}  // namespace

void set_enabled(bool on) {
  g_enabled.store(on, std::memory_order_relaxed);
}
bool enabled() {
  return g_enabled.load(std::memory_order_relaxed);
}

std::vector<OpStats> snapshot() {
  std::vector<OpStats> out;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    for (const auto& [k, s] : table()) out.push_back(s);
  }
  sort_by_time(out);
  return out;
}

void reset() {
  std::lock_guard<std::mutex> lock(g_mu);
  table().clear();
}

OpStats total() {
  OpStats t;
  t.kind = "total";
  for (const auto& s : snapshot()) {
    t.calls += s.calls;
    t.seconds += s.seconds;
    t.flops += s.flops;
  }
  return t;
}

std::vector<OpStats> difference(const std::vector<OpStats>& a, const std::vector<OpStats>& b) {
  std::map<std::string, OpStats> m;
  for (const auto& s : a) m[s.kind] = s;
  for (const auto& s : b) {
    OpStats& d = m[s.kind];
    d.kind = s.kind;
    d.calls -= s.calls;
    d.seconds -= s.seconds;
    d.flops -= s.flops;
  }
  std::vector<OpStats> out;
  for (const auto& [k, s] : m) {
    if (s.calls != 0) out.push_back(s);
  }
  sort_by_time(out);
  return out;
}

OpScope::OpScope(const char* kind) : kind_(kind) {
  if (!enabled()) return;
  counted_ = true;
  if (t_depth++ > 0) return;  // nested: the outer op owns the time
  active_ = true;
  t_nested_flops = 0;
  start_ns_ = now_ns();
}

OpScope::~OpScope() {
  if (!counted_) return;
  --t_depth;
  if (!active_) {
    t_nested_flops += flops_;
    return;
  }
  const double flops = flops_ + t_nested_flops;
  t_nested_flops = 0;
  const double s = static_cast<double>(now_ns() - start_ns_) * 1e-9;
  std::lock_guard<std::mutex> lock(g_mu);
  OpStats& e = table()[kind_];
  e.kind = kind_;
  e.calls += 1;
  e.seconds += s;
  e.flops += flops;
}

}  // namespace ipa::ops::profile
