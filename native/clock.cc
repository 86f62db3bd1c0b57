#include "clock.h"

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
  timespec m1, rt, m2;
  clock_gettime(CLOCK_MONOTONIC, &m1);
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_MONOTONIC, &m2);
  return Ns(rt) - (Ns(m1) + (Ns(m2) - Ns(m1)) / 2);
}

double RealtimeToMonotonicMs(const timespec& ts, int64_t offset_ns) {
  int64_t mono = Ns(ts) - offset_ns;
  // Split to keep sub-microsecond precision in the double.
  return static_cast<double>(mono / 1000000) + static_cast<double>(mono % 1000000) / 1e6;
}

}  // namespace wp
