#include "tx_stamps.h"

#include <linux/errqueue.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "clock.h"

namespace wp {
namespace {

// Reporting flags for the whole socket: software stamps, the id in each notification, and no copy of the packet.
constexpr int kReportFlags = SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY;
constexpr int kOptRxFilter = 1 << 17;  // SOF_TIMESTAMPING_OPT_RX_FILTER, missing from older headers

// Linux 6.13 added SCM_TS_OPT_ID; on older kernels a message carrying it fails with EINVAL.
bool KernelTakesIdsPerMessage() {
  utsname u{};
  int major = 0, minor = 0;
  if (uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 6 || (major == 6 && minor >= 13);
}

std::mutex registry_mu;
std::unordered_map<int, std::weak_ptr<TxState>>& Registry() {
  static auto* map = new std::unordered_map<int, std::weak_ptr<TxState>>();
  return *map;
}

}  // namespace

SysResult TxState::SetFlags(int fd, bool kernel_ids) {
  // With the kernel's counter every packet must be stamped (it only counts stamped ones); with ids per message
  // only the packets that ask for it are.
  int flags = kReportFlags | (kernel_ids ? SOF_TIMESTAMPING_TX_SOFTWARE : 0);
  // Received packets keep their SO_TIMESTAMPNS stamp only, rather than a second copy of it with every packet
  // (Linux 6.12+; older kernels refuse the flag and get the copy).
  int filtered = flags | kOptRxFilter;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &filtered, sizeof(filtered)) == 0) return {};
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof(flags)) != 0) {
    return {errno, "setsockopt(SO_TIMESTAMPING)"};
  }
  return {};
}

SysResult TxState::Enable(int fd, bool kernel_ids) {
  if (enabled()) return {};
  bool explicit_ids = !kernel_ids && KernelTakesIdsPerMessage();
  SysResult r = SetFlags(fd, !explicit_ids);
  if (r.err != 0) return r;
  // A non-empty error queue raises POLLERR, which libuv takes for a broken socket and stops polling; with this
  // option it also raises POLLPRI, which libuv reports as an ordinary event (UV_PRIORITIZED).
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_SELECT_ERR_QUEUE, &on, sizeof(on)) != 0) {
    int err = errno;
    Disable(fd);
    return {err, "setsockopt(SO_SELECT_ERR_QUEUE)"};
  }
  {
    std::lock_guard<std::mutex> lock(kernel_mu_);
    kernel_next_ = 0;  // OPT_ID, newly set, restarts the kernel's counter at 0
  }
  reserved_.store(0, std::memory_order_relaxed);
  explicit_ids_.store(explicit_ids, std::memory_order_relaxed);
  enabled_.store(true, std::memory_order_release);
  return {};
}

void TxState::Disable(int fd) {
  enabled_.store(false, std::memory_order_release);
  int off = 0;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &off, sizeof(off));
  setsockopt(fd, SOL_SOCKET, SO_SELECT_ERR_QUEUE, &off, sizeof(off));
}

uint32_t TxState::Reserve(size_t count) {
  return reserved_.fetch_add(static_cast<uint32_t>(count), std::memory_order_relaxed);
}

SendResult TxState::Send(int fd, const std::vector<ByteView>& payloads, const sockaddr* names, socklen_t namelen,
                         uint32_t reserved, int stall_ms, double* first_id, const SendGate* gate) {
  *first_id = -1;
  auto send = [&](const std::vector<ByteView>& p, const sockaddr* n, const StampRequest* s) {
    return stall_ms > 0 ? SendBatchWaiting(fd, p, n, namelen, s, stall_ms, gate)
                        : SendBatch(fd, p, n, namelen, s, gate);
  };
  if (payloads.empty() || !enabled()) return send(payloads, names, nullptr);
  if (!explicit_ids_.load(std::memory_order_relaxed)) {
    return SendKernelIds(fd, payloads, names, namelen, reserved, stall_ms, first_id, gate);
  }
  StampRequest stamp{reserved, 0, payloads.size()};
  SendResult r = send(payloads, names, &stamp);
  bool stamped_message_refused = r.err == EINVAL && (r.sent == 0 || r.sent == payloads.size() - 1);
  if (!stamped_message_refused) {
    *first_id = reserved;
    return r;
  }
  const sockaddr* name_at = names == nullptr ? nullptr
                                             : reinterpret_cast<const sockaddr*>(
                                                   reinterpret_cast<const uint8_t*>(names) + r.sent * namelen);
  if (!FallBackToKernelIds(fd, payloads[r.sent], name_at, namelen)) return r;
  // The refused message went out without a stamp; the rest is numbered by the kernel. This batch's first id
  // stays unknown.
  size_t done = r.sent + 1;
  std::vector<ByteView> rest(payloads.begin() + static_cast<std::ptrdiff_t>(done), payloads.end());
  const sockaddr* rest_names = names == nullptr ? nullptr
                                                : reinterpret_cast<const sockaddr*>(
                                                      reinterpret_cast<const uint8_t*>(names) + done * namelen);
  double ignored;
  SendResult tail =
      rest.empty() ? SendResult{} : SendKernelIds(fd, rest, rest_names, namelen, 0, stall_ms, &ignored, gate);
  return {done + tail.sent, tail.err};
}

bool TxState::FallBackToKernelIds(int fd, const ByteView& payload, const sockaddr* name, socklen_t namelen) {
  std::lock_guard<std::mutex> lock(kernel_mu_);
  if (!explicit_ids_.load(std::memory_order_relaxed)) return true;  // another send found out first
  SendResult one = SendBatch(fd, {payload}, name, namelen, nullptr);
  if (one.sent != 1) return false;  // refused without an id too: a bad packet, not an old kernel
  // Turning OPT_ID off and on again restarts the kernel's counter at 0.
  int flags = SOF_TIMESTAMPING_SOFTWARE;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof(flags));
  if (SetFlags(fd, true).err != 0) {
    enabled_.store(false, std::memory_order_release);
    return true;
  }
  kernel_next_ = 0;
  explicit_ids_.store(false, std::memory_order_relaxed);
  return true;
}

SendResult TxState::SendKernelIds(int fd, const std::vector<ByteView>& payloads, const sockaddr* names,
                                  socklen_t namelen, uint32_t reserved, int stall_ms, double* first_id,
                                  const SendGate* gate) {
  std::lock_guard<std::mutex> lock(kernel_mu_);
  uint32_t first = kernel_next_;
  SendResult r = stall_ms > 0 ? SendBatchWaiting(fd, payloads, names, namelen, nullptr, stall_ms, gate)
                              : SendBatch(fd, payloads, names, namelen, nullptr, gate);
  kernel_next_ += static_cast<uint32_t>(r.sent);
  // Packets that did not go out took no id: later reservations move back by as many.
  if (r.sent < payloads.size()) reserved_.fetch_sub(static_cast<uint32_t>(payloads.size() - r.sent));
  (void)reserved;
  *first_id = first;
  return r;
}

std::shared_ptr<TxState> FindTxState(int fd) {
  std::lock_guard<std::mutex> lock(registry_mu);
  auto it = Registry().find(fd);
  return it == Registry().end() ? nullptr : it->second.lock();
}

void RegisterTxState(int fd, std::shared_ptr<TxState> state) {
  std::lock_guard<std::mutex> lock(registry_mu);
  Registry()[fd] = state;
}

void UnregisterTxState(int fd, const TxState* state) {
  std::lock_guard<std::mutex> lock(registry_mu);
  auto it = Registry().find(fd);
  if (it == Registry().end()) return;
  auto current = it->second.lock();
  if (current == nullptr || current.get() == state) Registry().erase(it);
}

TxReader::TxReader()
    : msgs_(new mmsghdr[kSlots]()),
      iovs_(new iovec[kSlots]()),
      data_(new uint8_t[kSlots * kDataSize]),
      cmsgs_(new uint8_t[kSlots * kCmsgSize]()) {
  for (unsigned i = 0; i < kSlots; i++) {
    iovs_[i].iov_base = data_.get() + i * kDataSize;
    iovs_[i].iov_len = kDataSize;
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }
}

long TxReader::Read(int fd, size_t max, std::vector<double>* ids, std::vector<double>* times) {
  long taken = 0;
  int64_t offset_ns = 0;
  bool have_offset = false;
  while (static_cast<size_t>(taken) < max) {
    unsigned want = static_cast<unsigned>(std::min<size_t>(kSlots, max - static_cast<size_t>(taken)));
    for (unsigned i = 0; i < want; i++) {
      msghdr& h = msgs_[i].msg_hdr;
      h.msg_name = nullptr;
      h.msg_namelen = 0;
      h.msg_control = cmsgs_.get() + i * kCmsgSize;
      h.msg_controllen = kCmsgSize;
      h.msg_flags = 0;
    }
    int n = recvmmsg(fd, msgs_.get(), want, MSG_ERRQUEUE | MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return taken;
      return taken > 0 ? taken : -errno;
    }
    if (n == 0) return taken;
    if (!have_offset) {
      offset_ns = RealtimeOffsetNs();
      have_offset = true;
    }
    for (int i = 0; i < n; i++) {
      msghdr& h = msgs_[i].msg_hdr;
      sock_extended_err ee{};
      bool have_ee = false;
      timespec ts{};
      bool have_ts = false;
      for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING &&
            c->cmsg_len >= CMSG_LEN(sizeof(scm_timestamping))) {
          scm_timestamping st;
          std::memcpy(&st, CMSG_DATA(c), sizeof(st));
          ts = st.ts[0];  // [0] software, [2] hardware
          have_ts = ts.tv_sec != 0 || ts.tv_nsec != 0;
        } else if (((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                    (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR) ||
                    (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_TX_TIMESTAMP)) &&
                   c->cmsg_len >= CMSG_LEN(sizeof(sock_extended_err))) {
          std::memcpy(&ee, CMSG_DATA(c), sizeof(ee));
          have_ee = true;
        }
      }
      if (!have_ee || !have_ts || ee.ee_errno != ENOMSG || ee.ee_origin != SO_EE_ORIGIN_TIMESTAMPING ||
          ee.ee_info != SCM_TSTAMP_SND) {
        continue;
      }
      ids->push_back(static_cast<double>(ee.ee_data));
      times->push_back(RealtimeToMonotonicMs(ts, offset_ns));
    }
    taken += n;
    if (static_cast<unsigned>(n) < want) return taken;
  }
  return taken;
}

}  // namespace wp
