#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sys_result.h"
#include "unique_fd.h"

// Blocking NETLINK_ROUTE request/response, on a socket created inside a network namespace. Not thread-safe: one
// request at a time per socket (netlink_job.h serialises the requests of a shared one).
namespace wp {

struct NetlinkError {
  int err = 0;                    // 0 or a positive errno
  const char* syscall = nullptr;  // the failing call, or the request name for kernel errors
  std::string note;               // the kernel's extended ack message, if any
  std::string path;               // the namespace file, when opening or entering it failed
};

// A request under construction: header, fixed family struct, then attributes.
class NetlinkRequest {
 public:
  NetlinkRequest(uint16_t type, uint16_t flags, const void* body, size_t body_len);
  void AddAttr(uint16_t type, const void* data, size_t len);
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }

 private:
  std::vector<uint64_t> buf_;  // uint64_t for alignment
  size_t len_;
};

class NetlinkSocket {
 public:
  using MessageFn = std::function<void(const nlmsghdr*)>;

  // Opens the socket in the namespace at netns_path ("" = the caller's).
  SysResult Open(const std::string& netns_path);
  // The same, as an error that names the namespace file when opening or entering it failed.
  NetlinkError OpenIn(const std::string& netns_path);

  // A dump (NLM_F_DUMP is added): on_msg sees every message up to NLMSG_DONE. A dump the kernel
  // flags as inconsistent (NLM_F_DUMP_INTR) is retried; reset() runs before every attempt.
  NetlinkError Dump(NetlinkRequest& req, const char* name, const std::function<void()>& reset,
                    const MessageFn& on_msg);

  // A single request (NLM_F_ACK is added): on_msg sees the replies, which end at the kernel's ack.
  NetlinkError Request(NetlinkRequest& req, const char* name, const MessageFn& on_msg);

 private:
  NetlinkError Transact(NetlinkRequest& req, const char* name, const MessageFn& on_msg,
                        bool* interrupted);

  UniqueFd fd_;
  uint32_t port_ = 0;
  uint32_t seq_ = 0;
  std::vector<uint8_t> rx_;
};

// Calls fn(type, data, len) for each rtattr in [start, start + len).
void ForEachAttr(const void* start, int len, const std::function<void(uint16_t, const uint8_t*, size_t)>& fn);

}  // namespace wp
