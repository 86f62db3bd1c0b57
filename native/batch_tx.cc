#include "batch_tx.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>

namespace wp {
namespace {

constexpr size_t kChunk = 1024;  // UIO_MAXIOV: the most sendmmsg takes per call

}  // namespace

SendResult SendBatch(int fd, const std::vector<ByteView>& payloads, const sockaddr* names, socklen_t namelen) {
  SendResult r;
  std::vector<mmsghdr> msgs(std::min(payloads.size(), kChunk));
  std::vector<iovec> iovs(msgs.size());
  while (r.sent < payloads.size()) {
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

}  // namespace wp
