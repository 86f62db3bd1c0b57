#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "args.h"
#include "send_gate.h"

namespace wp {

struct SendResult {
  size_t sent = 0;  // messages the kernel accepted
  int err = 0;      // the error that stopped the batch; 0 when done or stopped by EAGAIN/ENOBUFS
};

// Asks the kernel for a software TX timestamp of a batch's first and last message, each tagged with its id
// (SCM_TS_OPT_ID): message i of the batch is packet first_id + i. A call may send a tail of the batch: its
// payloads[0] is message `offset` of a batch of `total`.
struct StampRequest {
  uint32_t first_id;
  size_t offset;
  size_t total;
};

// sendmmsg for the whole batch (looping over partial sends). names may be null (connected/bound
// sockets) or hold one address per message. With a gate, a send on a duplicate of a socket's fd stops with EBADF
// before its next sendmmsg once the socket has been closed.
SendResult SendBatch(int fd, const std::vector<ByteView>& payloads, const sockaddr* names, socklen_t namelen,
                     const StampRequest* stamp = nullptr, const SendGate* gate = nullptr);

// As SendBatch, but while the interface queue is full (EAGAIN/ENOBUFS) waits until the socket can send again,
// giving up when a call makes no progress after stall_ms.
SendResult SendBatchWaiting(int fd, const std::vector<ByteView>& payloads, const sockaddr* names,
                            socklen_t namelen, const StampRequest* stamp, int stall_ms,
                            const SendGate* gate = nullptr);

}  // namespace wp
