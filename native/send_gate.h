#pragma once

#include <atomic>
#include <memory>

namespace wp {

// Whether a socket of the addon has been closed, for the sends still under way on a worker thread with a
// duplicate of its fd (sendFramesAsync): they stop before their next system call once it is.
class SendGate {
 public:
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  void Close() { closed_.store(true, std::memory_order_release); }

 private:
  std::atomic<bool> closed_{false};
};

// The gate of the open socket with this fd number (registered by the socket when it opens, dropped when it
// closes); null for an fd that is no open socket of the addon.
std::shared_ptr<SendGate> OpenSendGate(int fd);
std::shared_ptr<SendGate> FindSendGate(int fd);
// Closes the gate and forgets it (the number may go to another socket next).
void CloseSendGate(int fd, const std::shared_ptr<SendGate>& gate);

}  // namespace wp
