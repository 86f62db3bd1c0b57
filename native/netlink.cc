#include "netlink.h"

#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "netns.h"

namespace wp {
namespace {

constexpr int kMaxDumpAttempts = 10;
constexpr int kReplyTimeoutSeconds = 5;

// The kernel's extended ack text (NLMSGERR_ATTR_MSG) following an NLMSG_ERROR.
std::string ExtAckMessage(const nlmsghdr* h) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
  size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
  if (!(h->nlmsg_flags & NLM_F_CAPPED)) offset += e->msg.nlmsg_len - NLMSG_HDRLEN;
  if (offset >= h->nlmsg_len) return "";
  std::string message;
  const auto* base = reinterpret_cast<const uint8_t*>(h);
  size_t pos = offset;
  while (pos + NLA_HDRLEN <= h->nlmsg_len) {
    nlattr a;
    std::memcpy(&a, base + pos, sizeof(a));
    if (a.nla_len < NLA_HDRLEN || pos + a.nla_len > h->nlmsg_len) break;
    if ((a.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && a.nla_len > NLA_HDRLEN) {
      const char* s = reinterpret_cast<const char*>(base + pos + NLA_HDRLEN);
      message.assign(s, strnlen(s, a.nla_len - NLA_HDRLEN));
    }
    pos += NLA_ALIGN(a.nla_len);
  }
  return message;
}

}  // namespace

NetlinkRequest::NetlinkRequest(uint16_t type, uint16_t flags, const void* body, size_t body_len)
    : buf_(512 / sizeof(uint64_t), 0), len_(NLMSG_LENGTH(body_len)) {
  nlmsghdr* h = header();
  h->nlmsg_type = type;
  h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  std::memcpy(NLMSG_DATA(h), body, body_len);
  h->nlmsg_len = static_cast<uint32_t>(len_);
}

void NetlinkRequest::AddAttr(uint16_t type, const void* data, size_t len) {
  size_t aligned = NLMSG_ALIGN(len_);
  size_t need = aligned + RTA_SPACE(len);
  if (need > buf_.size() * sizeof(uint64_t)) buf_.resize((need + 7) / 8, 0);
  auto* rta = reinterpret_cast<rtattr*>(reinterpret_cast<uint8_t*>(buf_.data()) + aligned);
  rta->rta_type = type;
  rta->rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
  std::memcpy(RTA_DATA(rta), data, len);
  len_ = aligned + RTA_LENGTH(len);
  header()->nlmsg_len = static_cast<uint32_t>(len_);
}

SysResult NetlinkSocket::Open(const std::string& netns_path) {
  SysResult r = RunInNetns(netns_path, [&](const char** syscall) {
    fd_.reset(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!fd_) {
      *syscall = "socket";
      return errno;
    }
    return 0;
  });
  if (r.err != 0) return r;
  int one = 1;
  // Best effort: the kernel's reason text for errors, and acks without a copy of our request.
  setsockopt(fd_.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  setsockopt(fd_.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  // The kernel always answers route requests; the timeout only guards against a wedged socket.
  timeval tv{kReplyTimeoutSeconds, 0};
  setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) return {errno, "bind"};
  socklen_t len = sizeof(local);
  if (getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&local), &len) != 0) return {errno, "getsockname"};
  port_ = local.nl_pid;
  seq_ = static_cast<uint32_t>(time(nullptr));
  return {};
}

NetlinkError NetlinkSocket::OpenIn(const std::string& netns_path) {
  SysResult r = Open(netns_path);
  NetlinkError e;
  if (r.err == 0) return e;
  e.err = r.err;
  e.syscall = r.syscall != nullptr ? r.syscall : "unknown";
  if (std::strcmp(e.syscall, "open") == 0 || std::strcmp(e.syscall, "setns") == 0) e.path = netns_path;
  return e;
}

NetlinkError NetlinkSocket::Dump(NetlinkRequest& req, const char* name, const std::function<void()>& reset,
                                 const MessageFn& on_msg) {
  req.header()->nlmsg_flags |= NLM_F_DUMP;
  for (int attempt = 0; attempt < kMaxDumpAttempts; attempt++) {
    reset();
    bool interrupted = false;
    NetlinkError e = Transact(req, name, on_msg, &interrupted);
    if (e.err != 0 || !interrupted) return e;
  }
  NetlinkError e;
  e.err = EAGAIN;
  e.syscall = name;
  e.note = "dump kept changing while it was read";
  return e;
}

NetlinkError NetlinkSocket::Request(NetlinkRequest& req, const char* name, const MessageFn& on_msg) {
  req.header()->nlmsg_flags |= NLM_F_ACK;
  bool interrupted = false;
  return Transact(req, name, on_msg, &interrupted);
}

NetlinkError NetlinkSocket::Transact(NetlinkRequest& req, const char* name, const MessageFn& on_msg,
                                     bool* interrupted) {
  NetlinkError result;
  nlmsghdr* h = req.header();
  h->nlmsg_seq = ++seq_;
  h->nlmsg_pid = 0;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    ssize_t n = sendto(fd_.get(), h, h->nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    if (n >= 0) break;
    if (errno != EINTR) {
      result.err = errno;
      result.syscall = "sendto";
      return result;
    }
  }

  for (;;) {
    // Peek for the size so a large dump batch is never truncated.
    ssize_t size = recv(fd_.get(), nullptr, 0, MSG_PEEK | MSG_TRUNC);
    if (size >= 0) {
      rx_.resize(static_cast<size_t>(size) < 4096 ? 4096 : static_cast<size_t>(size));
      size = recv(fd_.get(), rx_.data(), rx_.size(), 0);
    }
    if (size < 0) {
      if (errno == EINTR) continue;
      result.err = (errno == EAGAIN || errno == EWOULDBLOCK) ? ETIMEDOUT : errno;
      result.syscall = "recv";
      return result;
    }
    int len = static_cast<int>(size);
    for (auto* m = reinterpret_cast<nlmsghdr*>(rx_.data()); NLMSG_OK(m, len); m = NLMSG_NEXT(m, len)) {
      // Anything not answering this request (a stale reply to an earlier one) is skipped.
      if (m->nlmsg_seq != h->nlmsg_seq || m->nlmsg_pid != port_) continue;
      if (m->nlmsg_flags & NLM_F_DUMP_INTR) *interrupted = true;
      switch (m->nlmsg_type) {
        case NLMSG_NOOP:
          continue;
        case NLMSG_OVERRUN:
          result.err = ENOBUFS;
          result.syscall = name;
          return result;
        case NLMSG_DONE:
          if (m->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
            int err;
            std::memcpy(&err, NLMSG_DATA(m), sizeof(err));
            if (err < 0) {
              result.err = -err;
              result.syscall = name;
            }
          }
          return result;
        case NLMSG_ERROR: {
          if (m->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
            result.err = EPROTO;
            result.syscall = name;
            return result;
          }
          const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(m));
          if (e->error != 0) {
            result.err = -e->error;
            result.syscall = name;
            result.note = ExtAckMessage(m);
          }
          // error 0 is the ack that ends a single request.
          return result;
        }
        default:
          on_msg(m);
          break;
      }
    }
  }
}

void ForEachAttr(const void* start, int len, const std::function<void(uint16_t, const uint8_t*, size_t)>& fn) {
  for (auto* a = static_cast<const rtattr*>(start); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    fn(static_cast<uint16_t>(a->rta_type & NLA_TYPE_MASK), static_cast<const uint8_t*>(RTA_DATA(a)),
       RTA_PAYLOAD(a));
  }
}

}  // namespace wp
