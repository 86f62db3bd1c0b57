#include "socket_core.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"

namespace wp {
namespace {

// Errors a receive can report that concern one packet or a passing state of the link (the
// interface went down, an ICMP error for an earlier send): the socket itself is fine.
bool IsTransient(int err) {
  switch (err) {
    case ENETDOWN:
    case ENXIO:
    case ENOBUFS:
    case ENOMEM:
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EMSGSIZE:
    case EPROTO:
      return true;
    default:
      return false;
  }
}

}  // namespace

SocketCore::SocketCore(Napi::Env env, MetaKind kind, const char* resource_name)
    : env_(env), kind_(kind), resource_name_(resource_name), reader_(kind) {}

SocketCore::~SocketCore() { Close(); }

void SocketCore::Adopt(int fd) {
  fd_ = fd;
  // Close before the environment goes away (worker exit, process exit) so no libuv handle and no
  // fd outlive it.
  if (napi_add_env_cleanup_hook(env_, OnEnvCleanup, this) == napi_ok) cleanup_hook_ = true;
}

void SocketCore::OnEnvCleanup(void* arg) {
  auto* self = static_cast<SocketCore*>(arg);
  self->cleanup_hook_ = false;  // being run, so already unregistered
  self->Close();
}

bool SocketCore::CheckOpen(const char* syscall) {
  if (fd_ >= 0) return true;
  ErrnoError(env_, syscall, EBADF, "", "socket is closed").ThrowAsJavaScriptException();
  return false;
}

void SocketCore::StartReceive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    ThrowTypeError(env, "startReceive(callback): callback must be a function");
    return;
  }
  if (!CheckOpen("startReceive")) return;
  if (receiving_) {
    // Replacing the callback is allowed; the poll keeps running.
    callback_ = Napi::Persistent(info[0].As<Napi::Function>());
    return;
  }
  if (poll_ == nullptr) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "startReceive: no libuv loop").ThrowAsJavaScriptException();
      return;
    }
    poll_ = new uv_poll_t;
    int rc = uv_poll_init_socket(loop, poll_, fd_);
    if (rc != 0) {
      delete poll_;
      poll_ = nullptr;
      ThrowErrno(env, "uv_poll_init", -rc);
      return;
    }
    poll_->data = this;
  }
  int rc = uv_poll_start(poll_, UV_READABLE, OnPoll);
  if (rc != 0) {
    ThrowErrno(env, "uv_poll_start", -rc);
    return;
  }
  receiving_ = true;
  callback_ = Napi::Persistent(info[0].As<Napi::Function>());
  self_ = Napi::Persistent(info.This().As<Napi::Object>());
  async_ = std::make_unique<Napi::AsyncContext>(env, resource_name_, info.This().As<Napi::Object>());
  ApplyRef();
}

void SocketCore::StopReceive() {
  if (!receiving_) return;
  receiving_ = false;
  if (poll_ != nullptr) uv_poll_stop(poll_);
  callback_.Reset();
  async_.reset();
  self_.Reset();
}

void SocketCore::Ref() {
  refed_ = true;
  ApplyRef();
}

void SocketCore::Unref() {
  refed_ = false;
  ApplyRef();
}

void SocketCore::ApplyRef() {
  if (poll_ == nullptr) return;
  uv_handle_t* h = reinterpret_cast<uv_handle_t*>(poll_);
  if (refed_) {
    uv_ref(h);
  } else {
    uv_unref(h);
  }
}

void SocketCore::Close() {
  StopReceive();
  if (poll_ != nullptr) {
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  // Only after the poll is stopped: libuv must not watch a closed (and maybe reused) fd number.
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (cleanup_hook_) {
    napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
    cleanup_hook_ = false;
  }
}

void SocketCore::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<SocketCore*>(handle->data);
  if (self != nullptr && self->receiving_) self->OnReadable(status);
}

void SocketCore::OnReadable(int status) {
  Napi::HandleScope scope(env_);
  if (status < 0) {
    Fail("uv_poll", -status);
    return;
  }
  batch_.Clear();
  int err = reader_.Read(fd_, kMaxPacketsPerWakeup, kMaxBytesPerWakeup, &batch_);
  if (batch_.count > 0) Deliver();
  // The callback may have stopped or closed the socket.
  if (err != 0 && !IsTransient(err) && receiving_) Fail("recvmmsg", err);
}

void SocketCore::Deliver() {
  Napi::Env env = env_;
  Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::Copy(env, batch_.data.data(), batch_.data.size());
  size_t n = batch_.meta.size();
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n * sizeof(double));
  std::memcpy(ab.Data(), batch_.meta.data(), n * sizeof(double));
  Napi::Float64Array meta = Napi::Float64Array::New(env, n, ab, 0);
  Napi::Number count = Napi::Number::New(env, static_cast<double>(batch_.count));
  Napi::Object recv = self_.Value();
  Napi::Function fn = callback_.Value();
  batch_.Clear();
  fn.MakeCallback(recv, {data, meta, count}, *async_);
  // MakeCallback leaves a throwing callback's exception pending in the env; from a libuv callback
  // nothing would ever rethrow it, so hand it to process 'uncaughtException'.
  if (env.IsExceptionPending()) RaiseUncaught(env, env.GetAndClearPendingException().Value());
}

void SocketCore::Fail(const char* syscall, int err) {
  // The socket is unusable: stop polling (a level-triggered error would spin) and report.
  Napi::Error error = ErrnoError(env_, syscall, err);
  StopReceive();
  RaiseUncaught(env_, error.Value());
}

}  // namespace wp
