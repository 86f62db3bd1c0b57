#include "batch_rx.h"

#include <linux/if_packet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "clock.h"
#include "sockaddr.h"

namespace wp {

void Batch::Clear() {
  data.clear();
  meta.clear();
  count = 0;
  // Do not keep a burst's worth of memory around forever.
  if (data.capacity() > (4u << 20)) std::vector<uint8_t>().swap(data);
}

BatchReader::BatchReader(MetaKind kind)
    : kind_(kind),
      arena_(new uint8_t[kSlots * kSlotSize]),  // deliberately not value-initialised
      msgs_(new mmsghdr[kSlots]()),
      iovs_(new iovec[kSlots]()),
      names_(new sockaddr_storage[kSlots]()),
      cmsgs_(new uint8_t[kSlots * kCmsgSize]()) {
  for (unsigned i = 0; i < kSlots; i++) {
    iovs_[i].iov_base = arena_.get() + i * kSlotSize;
    iovs_[i].iov_len = kSlotSize;
    msghdr& h = msgs_[i].msg_hdr;
    h.msg_iov = &iovs_[i];
    h.msg_iovlen = 1;
    h.msg_name = &names_[i];
  }
}

int BatchReader::Read(int fd, size_t max_packets, size_t max_bytes, Batch* out) {
  int64_t offset_ns = 0;
  bool have_offset = false;
  while (out->count < max_packets && out->data.size() < max_bytes) {
    unsigned want = static_cast<unsigned>(std::min<size_t>(kSlots, max_packets - out->count));
    for (unsigned i = 0; i < want; i++) {
      msghdr& h = msgs_[i].msg_hdr;
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_control = cmsgs_.get() + i * kCmsgSize;
      h.msg_controllen = kCmsgSize;
      h.msg_flags = 0;
    }
    // MSG_TRUNC makes msg_len the real length even if a packet did not fit.
    int n = recvmmsg(fd, msgs_.get(), want, MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return errno;
    }
    if (n == 0) return 0;
    if (!have_offset) {
      offset_ns = RealtimeOffsetNs();
      have_offset = true;
    }
    for (unsigned i = 0; i < static_cast<unsigned>(n); i++) Append(i, offset_ns, out);
    packets_ += static_cast<uint64_t>(n);
    // A short batch means the queue is empty: skip the recvmmsg that would only say EAGAIN.
    if (static_cast<unsigned>(n) < want) return 0;
  }
  return 0;
}

void BatchReader::Append(unsigned i, int64_t offset_ns, Batch* out) {
  const msghdr& h = msgs_[i].msg_hdr;
  size_t wire_len = msgs_[i].msg_len;
  size_t captured = std::min(wire_len, kSlotSize);
  size_t offset = out->data.size();
  const uint8_t* src = static_cast<const uint8_t*>(iovs_[i].iov_base);
  out->data.insert(out->data.end(), src, src + captured);

  double ts = -1;
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SO_TIMESTAMPNS && c->cmsg_len >= CMSG_LEN(sizeof(timespec))) {
      timespec t;
      std::memcpy(&t, CMSG_DATA(c), sizeof(t));
      if (t.tv_sec != 0 || t.tv_nsec != 0) ts = RealtimeToMonotonicMs(t, offset_ns);
    } else if (c->cmsg_type == SO_RXQ_OVFL && c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
      uint32_t drops;
      std::memcpy(&drops, CMSG_DATA(c), sizeof(drops));
      // Cumulative for the socket's life, and only present once something was dropped.
      ovfl_seen_ = drops;
    }
  }
  if (ts < 0) ts = MonotonicMs();

  double a = 0, b = 0;
  if (kind_ == MetaKind::kPacket) {
    const auto* ll = reinterpret_cast<const sockaddr_ll*>(&names_[i]);
    a = h.msg_namelen >= offsetof(sockaddr_ll, sll_pkttype) + 1 ? ll->sll_pkttype : 0;
    b = static_cast<double>(wire_len);
  } else {
    int family = 0;
    uint8_t source[16];
    uint16_t port = 0;
    if (ReadSockaddr(names_[i], h.msg_namelen, &family, source, &port)) {
      if (family == AF_INET) {
        a = (static_cast<double>(source[0]) * 16777216.0) + ((source[1] << 16) | (source[2] << 8) | source[3]);
      } else {
        // 16 bytes do not fit a double: they follow the packet in the batch buffer, [3] says where.
        a = static_cast<double>(out->data.size());
        out->data.insert(out->data.end(), source, source + 16);
      }
      b = port;
    }
  }
  const double m[kMetaStride] = {static_cast<double>(offset), static_cast<double>(captured), ts, a, b};
  out->meta.insert(out->meta.end(), m, m + kMetaStride);
  out->count++;
}

uint64_t BatchReader::TakeDrops() {
  uint32_t d = ovfl_seen_ - ovfl_reported_;  // wraps correctly
  ovfl_reported_ = ovfl_seen_;
  return d;
}

uint64_t BatchReader::TakePackets() {
  uint64_t p = packets_;
  packets_ = 0;
  return p;
}

}  // namespace wp
