#include "sockopts.h"

#include <linux/filter.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace wp {
namespace {

SysResult SetInt(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) != 0) return {errno, what};
  return {};
}

SysResult SetBuffer(int fd, int force_name, int name, int64_t bytes, const char* what) {
  int value = bytes > INT32_MAX ? INT32_MAX : static_cast<int>(bytes);
  if (setsockopt(fd, SOL_SOCKET, force_name, &value, sizeof(value)) == 0) return {};
  return SetInt(fd, SOL_SOCKET, name, value, what);
}

}  // namespace

SysResult AttachFilter(int fd, const std::vector<uint8_t>& program) {
  // Copy into properly aligned instructions; the JS buffer has no alignment guarantee.
  std::vector<sock_filter> insns(program.size() / sizeof(sock_filter));
  std::memcpy(insns.data(), program.data(), insns.size() * sizeof(sock_filter));
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(insns.size());
  prog.filter = insns.data();
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0) {
    return {errno, "setsockopt(SO_ATTACH_FILTER)"};
  }
  return {};
}

SysResult SetBufferSizes(int fd, std::optional<int64_t> rcvbuf, std::optional<int64_t> sndbuf) {
  if (rcvbuf) {
    SysResult r = SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, *rcvbuf, "setsockopt(SO_RCVBUF)");
    if (r.err) return r;
  }
  if (sndbuf) {
    SysResult r = SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, *sndbuf, "setsockopt(SO_SNDBUF)");
    if (r.err) return r;
  }
  return {};
}

SysResult EnableRxMetadata(int fd, bool drop_counter) {
  SysResult r = SetInt(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1, "setsockopt(SO_TIMESTAMPNS)");
  if (r.err || !drop_counter) return r;
  return SetInt(fd, SOL_SOCKET, SO_RXQ_OVFL, 1, "setsockopt(SO_RXQ_OVFL)");
}

void DrainSocket(int fd) {
  for (int i = 0; i < 1 << 16; i++) {
    if (recv(fd, nullptr, 0, MSG_DONTWAIT | MSG_TRUNC) < 0 && errno != EINTR) return;
  }
}

void KeepReceiveStampingOn() {
  static std::once_flag once;
  std::call_once(once, [] {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    int on = 1;
    // Never closed: it only has to exist.
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) != 0) close(fd);
  });
}

}  // namespace wp
