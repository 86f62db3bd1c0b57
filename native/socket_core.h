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
  BatchReader& reader() { return reader_; }

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

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnEnvCleanup(void* arg);
  void OnReadable(int status);
  void Deliver();
  void Fail(const char* syscall, int err);
  void ApplyRef();

  Napi::Env env_;
  MetaKind kind_;
  const char* resource_name_;
  int fd_ = -1;
  bool cleanup_hook_ = false;
  uv_poll_t* poll_ = nullptr;  // heap: freed by uv_close's callback, which may outlive this object
  bool receiving_ = false;
  bool refed_ = true;
  Napi::FunctionReference callback_;
  Napi::ObjectReference self_;  // keeps a receiving socket from being collected
  std::unique_ptr<Napi::AsyncContext> async_;
  BatchReader reader_;
  Batch batch_;
};

}  // namespace wp
