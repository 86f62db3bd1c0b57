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
    : env_(env), kind_(kind), resource_name_(resource_name) {}

void SocketCore::TakeRxCounters(uint64_t* packets, uint64_t* drops) {
  *packets = reader_ ? reader_->TakePackets() : 0;
  *drops = reader_ ? reader_->TakeDrops() : 0;
}

SocketCore::~SocketCore() { Close(); }

void SocketCore::Adopt(int fd) {
  fd_ = fd;
  res_ = new Resources;
  res_->owner = this;
  // An async cleanup hook rather than a plain one: at environment teardown (worker exit) Node then
  // keeps its loop running, and this addon loaded, until our uv_close callback has run.
  if (napi_add_async_cleanup_hook(env_, OnEnvTeardown, res_, &res_->hook) != napi_ok) res_->hook = nullptr;
}

void SocketCore::OnEnvTeardown(napi_async_cleanup_hook_handle /*handle*/, void* arg) {
  auto* res = static_cast<Resources*>(arg);
  // Without an owner the socket is already closing and the close callback releases the hook.
  if (res->owner != nullptr) res->owner->Close();
}

void SocketCore::Release(Resources* res) {
  if (res->hook != nullptr) napi_remove_async_cleanup_hook(res->hook);
  delete res;
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
  if (!res_->poll_initialised) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "startReceive: no libuv loop").ThrowAsJavaScriptException();
      return;
    }
    int rc = uv_poll_init_socket(loop, &res_->poll, fd_);
    if (rc != 0) {
      ThrowErrno(env, "uv_poll_init", -rc);
      return;
    }
    res_->poll.data = res_;
    res_->poll_initialised = true;
  }
  if (!reader_) reader_ = std::make_unique<BatchReader>(kind_);
  int rc = uv_poll_start(&res_->poll, UV_READABLE, OnPoll);
  if (rc != 0) {
    ThrowErrno(env, "uv_poll_start", -rc);
    return;
  }
  receiving_ = true;
  callback_ = Napi::Persistent(info[0].As<Napi::Function>());
  self_ = Napi::Persistent(info.This().As<Napi::Object>());
  // May survive from a stopReceive() made inside the callback, see StopReceive.
  if (!async_) async_ = std::make_unique<Napi::AsyncContext>(env, resource_name_, info.This().As<Napi::Object>());
  ApplyRef();
}

void SocketCore::StopReceive() {
  if (!receiving_) return;
  receiving_ = false;
  if (res_ != nullptr && res_->poll_initialised) uv_poll_stop(&res_->poll);
  callback_.Reset();
  self_.Reset();
  // The async context is in use while the callback runs; Deliver drops it afterwards.
  if (!delivering_) async_.reset();
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
  if (res_ == nullptr || !res_->poll_initialised) return;
  uv_handle_t* h = reinterpret_cast<uv_handle_t*>(&res_->poll);
  if (refed_) {
    uv_ref(h);
  } else {
    uv_unref(h);
  }
}

void SocketCore::Close() {
  StopReceive();
  if (res_ == nullptr) return;
  // The poll is stopped before the fd is closed: libuv must not watch a closed (reusable) fd number.
  ::close(fd_);
  fd_ = -1;
  Resources* res = res_;
  res_ = nullptr;
  res->owner = nullptr;
  if (res->poll_initialised) {
    uv_close(reinterpret_cast<uv_handle_t*>(&res->poll), [](uv_handle_t* h) {
      Release(static_cast<Resources*>(h->data));
    });
  } else {
    Release(res);
  }
}

void SocketCore::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<Resources*>(handle->data)->owner;
  if (self != nullptr && self->receiving_) self->OnReadable(status);
}

void SocketCore::OnReadable(int status) {
  // Raw napi calls from here on: node-addon-api's wrappers abort the process when a call fails
  // because the environment is shutting down (process.exit() in a worker, possibly from the
  // callback of another socket in the same loop iteration).
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  if (status < 0) {
    Fail("uv_poll", -status);
  } else {
    batch_.Clear();
    int err = reader_->Read(fd_, kMaxPacketsPerWakeup, kMaxBytesPerWakeup, &batch_);
    if (batch_.count > 0) Deliver();
    // The callback may have stopped or closed the socket.
    if (err != 0 && !IsTransient(err) && receiving_) Fail("recvmmsg", err);
  }
  napi_close_handle_scope(env_, scope);
}

void SocketCore::Deliver() {
  napi_env env = env_;
  size_t n = batch_.meta.size();
  void* bytes = nullptr;
  void* meta_bytes = nullptr;
  napi_value data, meta_ab, meta, count, result;
  bool ok = napi_create_buffer_copy(env, batch_.data.size(), batch_.data.data(), &bytes, &data) == napi_ok &&
            napi_create_arraybuffer(env, n * sizeof(double), &meta_bytes, &meta_ab) == napi_ok &&
            napi_create_typedarray(env, napi_float64_array, n, meta_ab, 0, &meta) == napi_ok &&
            napi_create_double(env, static_cast<double>(batch_.count), &count) == napi_ok;
  if (ok) std::memcpy(meta_bytes, batch_.meta.data(), n * sizeof(double));
  batch_.Clear();
  if (ok) {
    napi_value argv[] = {data, meta, count};
    delivering_ = true;
    ok = napi_make_callback(env, *async_, self_.Value(), callback_.Value(), 3, argv, &result) == napi_ok;
    delivering_ = false;
    if (!receiving_) async_.reset();
    if (ok) return;
  }
  // A throwing callback leaves its exception pending; from a libuv callback nothing would ever
  // rethrow it, so hand it to process 'uncaughtException'. Nothing pending: JS can no longer run.
  bool pending = false;
  napi_value exception;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
    napi_fatal_exception(env, exception);
  }
}

void SocketCore::Fail(const char* syscall, int err) {
  // The socket is unusable: stop polling (a level-triggered error would spin) and report.
  StopReceive();
  napi_value error = ErrnoErrorValue(env_, syscall, err);
  if (error != nullptr) napi_fatal_exception(env_, error);
}

}  // namespace wp
