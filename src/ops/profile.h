// Op-level instrumentation for benchmarks: per op kind, the number of calls, wall-clock time
// and nominal FLOPs (multiply-add = 2; linear 2·M·K·N, matmul 2·batch·M·K·N, conv
// 2·N·O·H'·W'·(C/groups)·kh·kw, attention 4·B·Lq·Lk·H·D). Off by default; when off an
// OpScope costs one relaxed atomic load. Only the outermost op on a thread is recorded, so an
// op that calls other ops is counted once, under its own kind, with the nested ops' FLOPs
// added to its own (a model can wrap a group of ops in a scope of its own kind).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ipa::ops::profile {

void set_enabled(bool on);
bool enabled();

struct OpStats {
  std::string kind;
  int64_t calls = 0;
  double seconds = 0;
  double flops = 0;
};
// All kinds seen since the last reset, sorted by time (largest first).
std::vector<OpStats> snapshot();
void reset();
// Totals over all kinds.
OpStats total();
// a − b per kind (for the ops run between two snapshots), sorted by time.
std::vector<OpStats> difference(const std::vector<OpStats>& a, const std::vector<OpStats>& b);

// RAII timer placed at the top of an op. `kind` must be a string literal.
class OpScope {
 public:
  explicit OpScope(const char* kind);
  ~OpScope();
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;
  void set_flops(double flops) { flops_ = flops; }

 private:
  const char* kind_;
  bool counted_ = false;  // entered while enabled (depth incremented)
  bool active_ = false;   // outermost: records on exit
  double flops_ = 0;
  int64_t start_ns_ = 0;
};

}  // namespace ipa::ops::profile
