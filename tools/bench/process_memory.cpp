#include "bench/process_memory.h"

#include <sys/resource.h>

#include <fstream>
#include <string>

namespace ipa::bench {

namespace {

// A "Vm...:   1234 kB" line of /proc/self/status, in MB (-1 when unavailable).
double status_kb_field(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, field.size() + 1, field + ":") == 0) {
      return std::stod(line.substr(field.size() + 1)) / 1024.0;
    }
  }
  return -1;
}

}  // namespace

double current_rss_mb() {
  return status_kb_field("VmRSS");
}

double peak_rss_mb() {
  const double hwm = status_kb_field("VmHWM");
  return hwm >= 0 ? hwm : maxrss_mb();
}

double maxrss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // kB on Linux
}

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace ipa::bench
