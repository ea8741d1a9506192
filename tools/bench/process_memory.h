// Resident memory of this process (Linux /proc and getrusage), for benchmark reports.
#pragma once

namespace ipa::bench {

double current_rss_mb();  // VmRSS
double peak_rss_mb();     // VmHWM: the high-water mark since start or the last reset
double maxrss_mb();       // getrusage ru_maxrss (the same mark as the kernel keeps it)
long minor_faults();      // getrusage ru_minflt: pages first touched (or re-mapped) so far
// Restarts the high-water mark from the current RSS (writes 5 to /proc/self/clear_refs);
// false where the kernel does not allow it.
bool reset_peak_rss();

}  // namespace ipa::bench
