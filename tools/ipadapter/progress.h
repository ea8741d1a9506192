// Progress and timing lines on stderr for the CLI.
#pragma once
#include <chrono>
#include <cstdio>
#include <string>

namespace ipa::cli {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// "label ... 1.23 s"
inline void log_timing(const std::string& label, double seconds) {
  std::fprintf(stderr, "%-28s %8.2f s\n", label.c_str(), seconds);
}

// A one-line bar: "[#####.....] step 3/30  0.42 it/s  ETA 64 s", redrawn in place.
void draw_progress(int done, int total, double elapsed_s);

}  // namespace ipa::cli
