#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "sys_result.h"

// Socket options shared by the packet and inet sockets. Each returns {0} or the failing call.
namespace wp {

// SO_ATTACH_FILTER with a struct sock_filter[] given as raw bytes.
SysResult AttachFilter(int fd, const std::vector<uint8_t>& program);

// SO_RCVBUF/SO_SNDBUF, trying the FORCE variants first (they ignore rmem_max/wmem_max as root).
SysResult SetBufferSizes(int fd, std::optional<int64_t> rcvbuf, std::optional<int64_t> sndbuf);

// SO_TIMESTAMPNS, and SO_RXQ_OVFL when drop counting is wanted.
SysResult EnableRxMetadata(int fd, bool drop_counter);

// Discards whatever was queued before a filter took effect.
void DrainSocket(int fd);

// Holds one socket with SO_TIMESTAMPNS open for the life of the process. The kernel stamps received packets
// only while some socket asks for it, and switches that on from a work queue a moment after the first one does:
// a probe's first answers could otherwise arrive unstamped and be stamped when read (late by the wake-up, or by
// milliseconds). Opened when the addon loads, it is on long before the first probe. No traffic, no address.
void KeepReceiveStampingOn();

}  // namespace wp
