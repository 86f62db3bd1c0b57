#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <vector>

#include "args.h"

namespace wp {

struct SendResult {
  size_t sent = 0;  // messages the kernel accepted
  int err = 0;      // the error that stopped the batch; 0 when done or stopped by EAGAIN/ENOBUFS
};

// sendmmsg for the whole batch (looping over partial sends). names may be null (connected/bound
// sockets) or hold one address per message.
SendResult SendBatch(int fd, const std::vector<ByteView>& payloads, const sockaddr* names, socklen_t namelen);

}  // namespace wp
