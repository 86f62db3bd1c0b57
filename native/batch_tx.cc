#include "batch_tx.h"

#include <linux/net_tstamp.h>

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstring>

#ifndef SCM_TS_OPT_ID
#define SCM_TS_OPT_ID 81  // Linux 6.13; older headers lack it
#endif

namespace wp {
namespace {

constexpr size_t kChunk = 1024;  // UIO_MAXIOV: the most sendmmsg takes per call
constexpr size_t kStampSpace = 2 * CMSG_SPACE(sizeof(uint32_t));

void PutU32(cmsghdr* c, int type, uint32_t value) {
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = type;
  c->cmsg_len = CMSG_LEN(sizeof(value));
  std::memcpy(CMSG_DATA(c), &value, sizeof(value));
}

// The control messages that ask for this one message's TX timestamp and give its id.
void Stamp(msghdr* h, uint8_t* space, uint32_t id) {
  h->msg_control = space;
  h->msg_controllen = kStampSpace;
  cmsghdr* c = CMSG_FIRSTHDR(h);
  PutU32(c, SO_TIMESTAMPING, SOF_TIMESTAMPING_TX_SOFTWARE);
  PutU32(CMSG_NXTHDR(h, c), SCM_TS_OPT_ID, id);
}

}  // namespace

SendResult SendBatch(int fd, const std::vector<ByteView>& payloads, const sockaddr* names, socklen_t namelen,
                     const StampRequest* stamp, const SendGate* gate) {
  SendResult r;
  std::vector<mmsghdr> msgs(std::min(payloads.size(), kChunk));
  std::vector<iovec> iovs(msgs.size());
  alignas(cmsghdr) uint8_t first_space[kStampSpace];
  alignas(cmsghdr) uint8_t last_space[kStampSpace];
  const size_t offset = stamp != nullptr ? stamp->offset : 0;
  const size_t last = stamp != nullptr ? stamp->total - 1 : 0;
  while (r.sent < payloads.size()) {
    if (gate != nullptr && gate->closed()) {
      r.err = EBADF;
      return r;
    }
    size_t n = std::min(payloads.size() - r.sent, kChunk);
    for (size_t i = 0; i < n; i++) {
      const ByteView& p = payloads[r.sent + i];
      iovs[i].iov_base = const_cast<uint8_t*>(p.data);
      iovs[i].iov_len = p.len;
      msghdr& h = msgs[i].msg_hdr;
      h = msghdr{};
      h.msg_iov = &iovs[i];
      h.msg_iovlen = 1;
      if (names != nullptr) {
        h.msg_name = const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(names) + (r.sent + i) * namelen);
        h.msg_namelen = namelen;
      }
      if (stamp != nullptr) {
        size_t index = offset + r.sent + i;
        uint32_t id = stamp->first_id + static_cast<uint32_t>(index);
        if (index == 0) Stamp(&h, first_space, id);
        // A one-message batch's first message is also its last: one timestamp.
        else if (index == last) Stamp(&h, last_space, id);
      }
    }
    int k = sendmmsg(fd, msgs.data(), static_cast<unsigned>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) r.err = errno;
      return r;
    }
    r.sent += static_cast<size_t>(k);
    // k == 0 cannot make progress; k < n means the next message would fail: the next call reports why.
    if (k == 0) return r;
  }
  return r;
}

SendResult SendBatchWaiting(int fd, const std::vector<ByteView>& payloads, const sockaddr* names,
                            socklen_t namelen, const StampRequest* stamp, int stall_ms, const SendGate* gate) {
  SendResult total;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(stall_ms);
  while (total.sent < payloads.size()) {
    std::vector<ByteView> rest(payloads.begin() + static_cast<std::ptrdiff_t>(total.sent), payloads.end());
    const sockaddr* rest_names =
        names == nullptr ? nullptr
                         : reinterpret_cast<const sockaddr*>(reinterpret_cast<const uint8_t*>(names) +
                                                             total.sent * namelen);
    StampRequest tail{};
    if (stamp != nullptr) tail = {stamp->first_id, stamp->offset + total.sent, stamp->total};
    SendResult r = SendBatch(fd, rest, rest_names, namelen, stamp != nullptr ? &tail : nullptr, gate);
    total.sent += r.sent;
    if (r.err != 0) {
      total.err = r.err;
      return total;
    }
    if (total.sent == payloads.size()) return total;
    if (r.sent == 0 && std::chrono::steady_clock::now() > deadline) return total;
    pollfd p{fd, POLLOUT, 0};
    poll(&p, 1, 10);
  }
  return total;
}

}  // namespace wp
