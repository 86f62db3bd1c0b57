#include "clock.h"

#include <cstdint>

namespace wp {
namespace {

int64_t Ns(const timespec& ts) { return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec; }

}  // namespace

double MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

int64_t RealtimeOffsetNs() {
  // The realtime clock read between two monotonic reads; an interruption between them (a preemption, a VM
  // exit: milliseconds at times) would put the offset off by half the gap, so the narrowest of a few tries
  // counts, and a gap under a microsecond ends the search.
  int64_t best_offset = 0;
  int64_t best_gap = INT64_MAX;
  for (int i = 0; i < 8 && best_gap > 1000; i++) {
    timespec m1, rt, m2;
    clock_gettime(CLOCK_MONOTONIC, &m1);
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &m2);
    const int64_t gap = Ns(m2) - Ns(m1);
    if (gap < best_gap) {
      best_gap = gap;
      best_offset = Ns(rt) - (Ns(m1) + gap / 2);
    }
  }
  return best_offset;
}

double RealtimeToMonotonicMs(const timespec& ts, int64_t offset_ns) {
  int64_t mono = Ns(ts) - offset_ns;
  // Split to keep sub-microsecond precision in the double.
  return static_cast<double>(mono / 1000000) + static_cast<double>(mono % 1000000) / 1e6;
}

}  // namespace wp
