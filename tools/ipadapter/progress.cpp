#include "progress.h"

#include <unistd.h>

namespace ipa::cli {

void draw_progress(int done, int total, double elapsed_s) {
  constexpr int kWidth = 24;
  const int filled = total > 0 ? done * kWidth / total : kWidth;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  const double rate = elapsed_s > 0 ? done / elapsed_s : 0.0;
  const double eta = rate > 0 ? (total - done) / rate : 0.0;
  const bool tty = isatty(STDERR_FILENO);
  std::fprintf(stderr, "%s[%s] step %d/%d  %.2f it/s  %.1f s/it  ETA %.0f s%s", tty ? "\r" : "",
               bar.c_str(), done, total, rate, rate > 0 ? 1.0 / rate : 0.0, eta,
               tty ? (done == total ? "\n" : "") : "\n");
  std::fflush(stderr);
}

}  // namespace ipa::cli
