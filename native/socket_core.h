#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>
#include <vector>

#include "args.h"
#include "batch_rx.h"
#include "batch_tx.h"
#include "send_gate.h"
#include "tx_stamps.h"

namespace wp {

// What the packet and inet socket wrappers share: the fd, the libuv poll handle, batched delivery of packets
// and of send timestamps to JS, receive errors to the run that owns the socket, ref/unref and an idempotent
// close that also runs at GC and at environment teardown.
class SocketCore {
 public:
  SocketCore(Napi::Env env, MetaKind kind, const char* resource_name);
  ~SocketCore();
  SocketCore(const SocketCore&) = delete;
  SocketCore& operator=(const SocketCore&) = delete;

  // Takes ownership of a configured socket.
  void Adopt(int fd);
  int fd() const { return fd_; }
  bool closed() const { return fd_ < 0; }
  // Packets read and SO_RXQ_OVFL drops seen since the previous call.
  void TakeRxCounters(uint64_t* packets, uint64_t* drops);

  // Throws (and returns false) when closed: "<syscall>: socket is closed (EBADF)".
  bool CheckOpen(const char* syscall);

  // A send from the JS thread; numbers its packets for TX timestamps (see last_send_tx_id).
  SendResult Send(const std::vector<ByteView>& payloads, const sockaddr* names, socklen_t namelen);
  // The TX timestamp id of the first packet of the last Send; NaN when unknown or timestamps are off.
  double last_send_tx_id() const { return last_send_tx_id_; }

  // JS methods; self is the wrapper object (the callbacks' `this`).
  void StartReceive(const Napi::CallbackInfo& info);
  void StopReceive();
  Napi::Value StartTxTimestamps(const Napi::CallbackInfo& info);
  void StopTxTimestamps();
  Napi::Value ReadTxTimestamps(const Napi::CallbackInfo& info);
  void Ref();
  void Unref();
  void Close();

 private:
  static constexpr size_t kMaxPacketsPerWakeup = 4096;
  static constexpr size_t kMaxBytesPerWakeup = 16u << 20;
  static constexpr size_t kMaxStampsPerWakeup = 16384;
  // Error wake-ups in a row that found nothing to read before the socket is declared broken (no busy loop).
  static constexpr int kMaxIdleErrorWakeups = 64;

  // The OS and libuv resources of an open socket. Separate from SocketCore because uv_close
  // finishes on a later loop turn, possibly after the wrapper was garbage collected.
  struct Resources {
    SocketCore* owner = nullptr;  // null once closing
    uv_poll_t poll;
    bool poll_initialised = false;
    napi_async_cleanup_hook_handle hook = nullptr;
  };

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnEnvTeardown(napi_async_cleanup_hook_handle handle, void* arg);
  static void Release(Resources* res);
  bool stamping() const { return !tx_callback_.IsEmpty(); }
  bool active() const { return receiving_ || stamping(); }
  // Starts, changes or stops the poll for what is wanted now. Returns 0 or a libuv error (with *syscall).
  int UpdatePoll(napi_value self, const char** syscall);
  void OnEvents(int status, int events);
  // Each returns what it took off the socket (>= 0), or -1 when the socket stopped, closed or failed meanwhile.
  long DrainStamps(bool deliver);
  long ReadPackets();
  bool DeliverStamps();
  bool DeliverPackets();
  // Calls a JS callback; a throw is handled (see OnThrow) and false returned.
  bool Call(napi_value fn, size_t argc, napi_value* argv);
  void OnThrow();
  // Stops receiving and stamping and hands the error to onError (or, without one, to uncaughtException).
  void Fail(napi_value error);
  void FailErrno(const char* syscall, int err);
  void StopAll();
  void ForgetTx();
  void ApplyRef();

  Napi::Env env_;
  MetaKind kind_;
  const char* resource_name_;
  int fd_ = -1;
  Resources* res_ = nullptr;  // set while open
  bool receiving_ = false;
  bool in_callback_ = false;  // inside OnEvents (JS may run)
  bool refed_ = true;
  int idle_error_wakeups_ = 0;
  Napi::FunctionReference callback_;
  Napi::FunctionReference error_callback_;
  Napi::FunctionReference tx_callback_;
  Napi::ObjectReference self_;  // keeps a polling socket from being collected
  std::unique_ptr<Napi::AsyncContext> async_;
  std::unique_ptr<BatchReader> reader_;  // allocated on first receive: send-only sockets need no arena
  Batch batch_;
  std::shared_ptr<TxState> tx_ = std::make_shared<TxState>();
  std::shared_ptr<SendGate> gate_;  // closed with the socket: stops its sends still under way on worker threads
  std::unique_ptr<TxReader> tx_reader_;
  std::vector<double> tx_ids_;
  std::vector<double> tx_times_;
  double last_send_tx_id_;
};

}  // namespace wp
