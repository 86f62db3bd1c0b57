#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>

#include "batch_rx.h"

namespace wp {

// What the packet and inet socket wrappers share: the fd, the libuv poll handle, batched delivery
// to JS, ref/unref and an idempotent close that also runs at GC and at environment teardown.
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

  // JS methods; self is the wrapper object (the callback's `this`).
  void StartReceive(const Napi::CallbackInfo& info);
  void StopReceive();
  void Ref();
  void Unref();
  void Close();

 private:
  static constexpr size_t kMaxPacketsPerWakeup = 4096;
  static constexpr size_t kMaxBytesPerWakeup = 16u << 20;

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
  void OnReadable(int status);
  void Deliver();
  void Fail(const char* syscall, int err);
  void ApplyRef();

  Napi::Env env_;
  MetaKind kind_;
  const char* resource_name_;
  int fd_ = -1;
  Resources* res_ = nullptr;  // set while open
  bool receiving_ = false;
  bool delivering_ = false;  // inside the JS callback
  bool refed_ = true;
  Napi::FunctionReference callback_;
  Napi::ObjectReference self_;  // keeps a receiving socket from being collected
  std::unique_ptr<Napi::AsyncContext> async_;
  std::unique_ptr<BatchReader> reader_;  // allocated on first receive: send-only sockets need no arena
  Batch batch_;
};

}  // namespace wp
