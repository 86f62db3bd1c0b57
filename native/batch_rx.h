#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

// Batched receive: recvmmsg into a preallocated arena, then packed into one byte vector plus
// META_STRIDE doubles per packet (layout documented in src/native/types.ts).
namespace wp {

constexpr size_t kMetaStride = 5;

enum class MetaKind {
  kPacket,  // [3] sll_pkttype, [4] wire length
  kInet,    // [3] source IPv4 as uint32, or (AF_INET6) the batch offset of its 16 bytes; [4] source port
};

struct Batch {
  std::vector<uint8_t> data;
  std::vector<double> meta;
  size_t count = 0;
  void Clear();
};

class BatchReader {
 public:
  static constexpr unsigned kSlots = 64;
  // Large enough for any IPv4 datagram or GRO'd frame, so nothing is truncated; the arena is
  // allocated untouched, so only the pages that packets land in become resident.
  static constexpr size_t kSlotSize = 65536;

  explicit BatchReader(MetaKind kind);

  // Appends packets to *out until the socket would block, max_packets or max_bytes is reached.
  // Returns 0, or an errno when recvmmsg failed (packets read before the failure stay in *out).
  int Read(int fd, size_t max_packets, size_t max_bytes, Batch* out);

  // SO_RXQ_OVFL drops seen since the previous call (inet sockets).
  uint64_t TakeDrops();
  // Packets returned by Read since the previous call.
  uint64_t TakePackets();

 private:
  // SO_TIMESTAMPNS, SO_RXQ_OVFL and, once TX timestamps are on, SO_TIMESTAMPING as well.
  static constexpr size_t kCmsgSize = 192;

  void Append(unsigned i, int64_t offset_ns, Batch* out);

  MetaKind kind_;
  std::unique_ptr<uint8_t[]> arena_;
  std::unique_ptr<mmsghdr[]> msgs_;
  std::unique_ptr<iovec[]> iovs_;
  std::unique_ptr<sockaddr_storage[]> names_;
  std::unique_ptr<uint8_t[]> cmsgs_;
  uint32_t ovfl_seen_ = 0;
  uint32_t ovfl_reported_ = 0;
  uint64_t packets_ = 0;
};

}  // namespace wp
