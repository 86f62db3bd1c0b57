#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "args.h"
#include "batch_tx.h"
#include "sys_result.h"

// Kernel send timestamps (SO_TIMESTAMPING, software TX): when each batch really left, read from the socket's
// error queue, instead of when the event loop got round to asking.
namespace wp {

// The TX-timestamp state of one socket, shared with its sends on worker threads.
//
// Every packet handed to a send gets an id at call time, in call order: the packets handed to the socket before
// it since timestamps were enabled (mod 2^32). Where the kernel takes the id with each message (SCM_TS_OPT_ID,
// Linux 6.13+) the first and the last packet of each send carry their id and ask for a timestamp: two error-queue
// entries per batch whatever its size, and exact ids even with sends in flight on several threads. Older kernels
// number every packet themselves (SOF_TIMESTAMPING_OPT_ID counter), so there every packet is timestamped and the
// sends on one socket take turns, which keeps each batch's ids contiguous.
class TxState {
 public:
  bool enabled() const { return enabled_.load(std::memory_order_acquire); }

  // SO_TIMESTAMPING and SO_SELECT_ERR_QUEUE on fd. kernel_ids: use the kernel's counter even where ids can be
  // given per message. Returns {0} or the refused call (the socket then stays without TX timestamps).
  SysResult Enable(int fd, bool kernel_ids);
  // Turns the option off again (no more error-queue entries), best effort.
  void Disable(int fd);

  // Ids for the next `count` packets, handed out on the JS thread when a send is called.
  uint32_t Reserve(size_t count);

  // Sends a batch whose first packet was given id `reserved` by Reserve (with SendBatchWaiting when stall_ms > 0,
  // else SendBatch). *first_id: the id its first packet really got, or -1 when that is not known (timestamps off,
  // or the batch that found the kernel too old for ids per message).
  // gate: as for SendBatch.
  SendResult Send(int fd, const std::vector<ByteView>& payloads, const sockaddr* names, socklen_t namelen,
                  uint32_t reserved, int stall_ms, double* first_id, const SendGate* gate = nullptr);

 private:
  SendResult SendKernelIds(int fd, const std::vector<ByteView>& payloads, const sockaddr* names,
                           socklen_t namelen, uint32_t reserved, int stall_ms, double* first_id,
                           const SendGate* gate);
  // After the kernel refused an id per message: true when it takes the message without one, and from then on
  // the socket uses the kernel's counter.
  bool FallBackToKernelIds(int fd, const ByteView& payload, const sockaddr* name, socklen_t namelen);
  SysResult SetFlags(int fd, bool kernel_ids);

  std::atomic<bool> enabled_{false};
  std::atomic<bool> explicit_ids_{false};
  std::atomic<uint32_t> reserved_{0};
  std::mutex kernel_mu_;     // kernel ids: one send at a time
  uint32_t kernel_next_ = 0;  // kernel ids: the kernel's OPT_ID counter (guarded by kernel_mu_)
};

// The TX state of the socket whose fd this is, for sends that are given an fd (sendFramesAsync); null when the
// fd is no socket of ours with TX timestamps on.
std::shared_ptr<TxState> FindTxState(int fd);
void RegisterTxState(int fd, std::shared_ptr<TxState> state);
void UnregisterTxState(int fd, const TxState* state);

// Reads TX timestamp notifications from a socket's error queue (recvmmsg with MSG_ERRQUEUE).
class TxReader {
 public:
  static constexpr unsigned kSlots = 64;

  TxReader();
  // Appends (id, CLOCK_MONOTONIC ms) pairs until the queue is empty or max entries were read. Entries that are
  // not send timestamps are dropped. Returns how many entries were taken off the queue (any kind), or -errno.
  long Read(int fd, size_t max, std::vector<double>* ids, std::vector<double>* times);

 private:
  static constexpr size_t kCmsgSize = 256;
  static constexpr size_t kDataSize = 64;  // OPT_TSONLY: no packet comes back, only its timestamp

  std::unique_ptr<mmsghdr[]> msgs_;
  std::unique_ptr<iovec[]> iovs_;
  std::unique_ptr<uint8_t[]> data_;
  std::unique_ptr<uint8_t[]> cmsgs_;
};

}  // namespace wp
