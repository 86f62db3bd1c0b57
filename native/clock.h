#pragma once

#include <cstdint>
#include <ctime>

namespace wp {

// CLOCK_MONOTONIC in milliseconds: the scale of Number(process.hrtime.bigint()) / 1e6.
double MonotonicMs();

// CLOCK_REALTIME minus CLOCK_MONOTONIC, in nanoseconds, sampled now. Kernel packet timestamps
// (SO_TIMESTAMPNS) are wall-clock; subtracting this moves them onto the monotonic scale.
int64_t RealtimeOffsetNs();

double RealtimeToMonotonicMs(const timespec& ts, int64_t offset_ns);

}  // namespace wp
