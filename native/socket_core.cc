#include "socket_core.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "errors.h"

namespace wp {
namespace {

// Errors a receive can report that concern one packet, not the socket: an ICMP error for an earlier send, a
// momentary shortage. The socket is fine and receiving goes on. Anything else (ENETDOWN: the interface went down
// or away, so its answers can no longer arrive) ends the run that owns the socket.
bool IsTransient(int err) {
  switch (err) {
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

napi_value RefValue(napi_env env, napi_ref ref) {
  napi_value v = nullptr;
  if (ref == nullptr || napi_get_reference_value(env, ref, &v) != napi_ok) return nullptr;
  return v;
}

napi_value Float64Array(napi_env env, const double* values, size_t n) {
  void* bytes = nullptr;
  napi_value ab, array;
  if (napi_create_arraybuffer(env, n * sizeof(double), &bytes, &ab) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, n, ab, 0, &array) != napi_ok) {
    return nullptr;
  }
  if (n > 0) std::memcpy(bytes, values, n * sizeof(double));
  return array;
}

}  // namespace

SocketCore::SocketCore(Napi::Env env, MetaKind kind, const char* resource_name)
    : env_(env), kind_(kind), resource_name_(resource_name), last_send_tx_id_(std::nan("")) {}

void SocketCore::TakeRxCounters(uint64_t* packets, uint64_t* drops) {
  *packets = reader_ ? reader_->TakePackets() : 0;
  *drops = reader_ ? reader_->TakeDrops() : 0;
}

SocketCore::~SocketCore() { Close(); }

void SocketCore::Adopt(int fd) {
  fd_ = fd;
  gate_ = OpenSendGate(fd);
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

SendResult SocketCore::Send(const std::vector<ByteView>& payloads, const sockaddr* names, socklen_t namelen) {
  uint32_t reserved = tx_->enabled() ? tx_->Reserve(payloads.size()) : 0;
  double first = -1;
  SendResult r = tx_->Send(fd_, payloads, names, namelen, reserved, 0, &first);
  last_send_tx_id_ = first < 0 ? std::nan("") : first;
  return r;
}

void SocketCore::StartReceive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    ThrowTypeError(env, "startReceive(callback, onError): callback must be a function");
    return;
  }
  bool with_on_error = info.Length() >= 2 && !info[1].IsUndefined() && !info[1].IsNull();
  if (with_on_error && !info[1].IsFunction()) {
    ThrowTypeError(env, "startReceive(callback, onError): onError must be a function");
    return;
  }
  if (!CheckOpen("startReceive")) return;
  if (!reader_) reader_ = std::make_unique<BatchReader>(kind_);
  bool was_receiving = receiving_;
  receiving_ = true;
  const char* syscall = nullptr;
  int rc = UpdatePoll(info.This(), &syscall);
  if (rc != 0) {
    receiving_ = was_receiving;
    ThrowErrno(env, syscall, -rc);
    return;
  }
  // Calling it again while receiving replaces both callbacks; the poll keeps running.
  callback_ = Napi::Persistent(info[0].As<Napi::Function>());
  if (with_on_error) {
    error_callback_ = Napi::Persistent(info[1].As<Napi::Function>());
  } else {
    error_callback_.Reset();
  }
}

void SocketCore::StopReceive() {
  if (!receiving_) return;
  receiving_ = false;
  callback_.Reset();
  error_callback_.Reset();
  UpdatePoll(nullptr, nullptr);
}

Napi::Value SocketCore::StartTxTimestamps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    ThrowTypeError(env, "startTxTimestamps(callback, options): callback must be a function");
    return env.Undefined();
  }
  std::optional<bool> kernel_ids;
  if (info.Length() >= 2 && !info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsObject()) {
      ThrowTypeError(env, "startTxTimestamps(callback, options): options must be an object");
      return env.Undefined();
    }
    Napi::Object opts = info[1].As<Napi::Object>();
    if (!ReadOptionalBool(env, opts.Get("kernelIds"), "options.kernelIds", &kernel_ids)) return env.Undefined();
  }
  if (!CheckOpen("setsockopt(SO_TIMESTAMPING)")) return env.Undefined();
  if (!tx_->enabled()) {
    // A kernel or socket that refuses the option leaves the caller with its own send times.
    if (tx_->Enable(fd_, kernel_ids.value_or(false)).err != 0) return Napi::Boolean::New(env, false);
    RegisterTxState(fd_, tx_);
  }
  if (!tx_reader_) tx_reader_ = std::make_unique<TxReader>();
  tx_callback_ = Napi::Persistent(info[0].As<Napi::Function>());
  const char* syscall = nullptr;
  int rc = UpdatePoll(info.This(), &syscall);
  if (rc != 0) {
    ForgetTx();
    ThrowErrno(env, syscall, -rc);
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

void SocketCore::StopTxTimestamps() {
  if (!stamping()) return;
  ForgetTx();
  UpdatePoll(nullptr, nullptr);
}

void SocketCore::ForgetTx() {
  tx_callback_.Reset();
  if (fd_ < 0) return;
  UnregisterTxState(fd_, tx_.get());
  tx_->Disable(fd_);
  // Entries still queued would hold receive-buffer room and keep POLLERR raised.
  if (tx_reader_) {
    tx_ids_.clear();
    tx_times_.clear();
    tx_reader_->Read(fd_, kMaxStampsPerWakeup, &tx_ids_, &tx_times_);
    tx_ids_.clear();
    tx_times_.clear();
  }
}

Napi::Value SocketCore::ReadTxTimestamps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen("recvmmsg(MSG_ERRQUEUE)")) return env.Undefined();
  if (!stamping()) return Napi::Number::New(env, 0);
  tx_ids_.clear();
  tx_times_.clear();
  long n = tx_reader_->Read(fd_, kMaxStampsPerWakeup, &tx_ids_, &tx_times_);
  if (n < 0) {
    ThrowErrno(env, "recvmmsg(MSG_ERRQUEUE)", static_cast<int>(-n));
    return env.Undefined();
  }
  size_t count = tx_ids_.size();
  if (count > 0) {
    // Called from JS: an exception thrown by the callback propagates to the caller.
    napi_value argv[] = {Float64Array(env, tx_ids_.data(), count), Float64Array(env, tx_times_.data(), count),
                         Napi::Number::New(env, static_cast<double>(count))};
    tx_ids_.clear();
    tx_times_.clear();
    if (argv[0] == nullptr || argv[1] == nullptr) return env.Undefined();
    napi_value result;
    if (napi_call_function(env, info.This(), RefValue(env, tx_callback_), 3, argv, &result) != napi_ok) {
      return env.Undefined();
    }
  }
  return Napi::Number::New(env, static_cast<double>(count));
}

int SocketCore::UpdatePoll(napi_value self, const char** syscall) {
  int events = (receiving_ ? UV_READABLE : 0) | (stamping() ? UV_PRIORITIZED : 0);
  if (events == 0) {
    if (res_ != nullptr && res_->poll_initialised) uv_poll_stop(&res_->poll);
    self_.Reset();
    // The async context is in use while a callback runs; OnEvents drops it afterwards.
    if (!in_callback_) async_.reset();
    return 0;
  }
  if (res_ == nullptr) return 0;
  if (!res_->poll_initialised) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env_, &loop) != napi_ok || loop == nullptr) {
      if (syscall) *syscall = "uv_default_loop";
      return UV_EINVAL;
    }
    int rc = uv_poll_init_socket(loop, &res_->poll, fd_);
    if (rc != 0) {
      if (syscall) *syscall = "uv_poll_init";
      return rc;
    }
    res_->poll.data = res_;
    res_->poll_initialised = true;
  }
  int rc = uv_poll_start(&res_->poll, events, OnPoll);
  if (rc != 0) {
    if (syscall) *syscall = "uv_poll_start";
    return rc;
  }
  if (self_.IsEmpty() && self != nullptr) self_ = Napi::Persistent(Napi::Object(env_, self));
  if (!async_ && self != nullptr) {
    async_ = std::make_unique<Napi::AsyncContext>(env_, resource_name_, Napi::Object(env_, self));
  }
  ApplyRef();
  return 0;
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

void SocketCore::StopAll() {
  receiving_ = false;
  callback_.Reset();
  error_callback_.Reset();
  if (stamping()) ForgetTx();
  UpdatePoll(nullptr, nullptr);
}

void SocketCore::Close() {
  StopAll();
  if (res_ == nullptr) return;
  // The poll is stopped before the fd is closed: libuv must not watch a closed (reusable) fd number. Sends
  // still under way on worker threads hold a duplicate of the fd, so they cannot reach the socket that gets the
  // number next; the gate stops them before their next sendmmsg.
  CloseSendGate(fd_, gate_);
  gate_.reset();
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

void SocketCore::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<Resources*>(handle->data)->owner;
  if (self != nullptr && self->active()) self->OnEvents(status, events);
}

void SocketCore::OnEvents(int status, int events) {
  // Raw napi calls from here on: node-addon-api's wrappers abort the process when a call fails
  // because the environment is shutting down (process.exit() in a worker, possibly from the
  // callback of another socket in the same loop iteration).
  napi_handle_scope scope;
  if (napi_open_handle_scope(env_, &scope) != napi_ok) return;
  // A local handle keeps the wrapper (and so this object) alive until the scope closes, whatever the callbacks
  // do to the references.
  napi_value self = RefValue(env_, self_);
  in_callback_ = true;
  // UV_EBADF is POLLERR without POLLPRI (a socket error, or an error queue without SO_SELECT_ERR_QUEUE): libuv
  // has stopped the poll. UV_PRIORITIZED is the error queue (or a socket error) with SO_SELECT_ERR_QUEUE.
  bool stopped = status == UV_EBADF;
  bool error_wakeup = stopped || (events & UV_PRIORITIZED) != 0;
  if (self == nullptr) {
    // The environment is going away.
  } else if (status < 0 && !stopped) {
    FailErrno("uv_poll", -status);
  } else {
    // Send timestamps first: the answers read next may be to the packets they time.
    long stamps = error_wakeup || stamping() ? DrainStamps(stamping()) : 0;
    long packets = stamps >= 0 && receiving_ ? ReadPackets() : 0;
    long progress = stamps < 0 || packets < 0 ? 1 : stamps + packets;
    if (error_wakeup && !receiving_ && fd_ >= 0) {
      // Nobody reads the socket to be told of its error: take it, or a level-triggered POLLERR would spin.
      int err = 0;
      socklen_t len = sizeof(err);
      if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) progress++;
    }
    if (!error_wakeup || progress > 0) {
      idle_error_wakeups_ = 0;
    } else if (++idle_error_wakeups_ > kMaxIdleErrorWakeups) {
      FailErrno("poll", EIO);
    }
    // Whatever the callbacks did, a poll that libuv stopped runs again while something is still wanted.
    if (stopped && active() && fd_ >= 0) {
      const char* syscall = nullptr;
      int rc = UpdatePoll(self, &syscall);
      if (rc != 0) FailErrno(syscall, -rc);
    }
  }
  in_callback_ = false;
  if (!active()) async_.reset();
  napi_close_handle_scope(env_, scope);
}

long SocketCore::DrainStamps(bool deliver) {
  if (!tx_reader_) tx_reader_ = std::make_unique<TxReader>();
  tx_ids_.clear();
  tx_times_.clear();
  long n = tx_reader_->Read(fd_, kMaxStampsPerWakeup, &tx_ids_, &tx_times_);
  // An unreadable error queue is not this socket's receive error; its entries are lost, nothing more.
  if (n < 0) n = 0;
  if (deliver && !tx_ids_.empty() && !DeliverStamps()) return -1;
  return n;
}

bool SocketCore::DeliverStamps() {
  size_t n = tx_ids_.size();
  napi_value ids = Float64Array(env_, tx_ids_.data(), n);
  napi_value times = Float64Array(env_, tx_times_.data(), n);
  napi_value count;
  tx_ids_.clear();
  tx_times_.clear();
  if (ids == nullptr || times == nullptr || napi_create_double(env_, static_cast<double>(n), &count) != napi_ok) {
    return false;
  }
  napi_value argv[] = {ids, times, count};
  return Call(RefValue(env_, tx_callback_), 3, argv) && !closed();
}

long SocketCore::ReadPackets() {
  batch_.Clear();
  int err = reader_->Read(fd_, kMaxPacketsPerWakeup, kMaxBytesPerWakeup, &batch_);
  long n = static_cast<long>(batch_.count);
  if (n > 0 && !DeliverPackets()) return -1;
  // The callback may have stopped or closed the socket.
  if (err != 0 && receiving_) {
    if (!IsTransient(err)) {
      FailErrno("recvmmsg", err);
      return -1;
    }
    n++;  // the error was taken off the socket
  }
  return n;
}

bool SocketCore::DeliverPackets() {
  napi_env env = env_;
  size_t n = batch_.meta.size();
  void* bytes = nullptr;
  napi_value data, count;
  bool ok = napi_create_buffer_copy(env, batch_.data.size(), batch_.data.data(), &bytes, &data) == napi_ok;
  napi_value meta = ok ? Float64Array(env, batch_.meta.data(), n) : nullptr;
  ok = ok && meta != nullptr && napi_create_double(env, static_cast<double>(batch_.count), &count) == napi_ok;
  batch_.Clear();
  if (!ok) return false;
  napi_value argv[] = {data, meta, count};
  return Call(RefValue(env, callback_), 3, argv) && receiving_;
}

bool SocketCore::Call(napi_value fn, size_t argc, napi_value* argv) {
  napi_value self = RefValue(env_, self_);
  napi_value result;
  if (fn == nullptr || self == nullptr || !async_) return false;
  if (napi_make_callback(env_, *async_, self, fn, argc, argv, &result) == napi_ok) return true;
  OnThrow();
  return false;
}

void SocketCore::OnThrow() {
  // A throwing callback leaves its exception pending; from a libuv callback nothing would ever rethrow it. With
  // an onError it ends the run that owns the socket, without one the process ('uncaughtException'). Nothing
  // pending: JS can no longer run.
  bool pending = false;
  napi_value exception;
  if (napi_is_exception_pending(env_, &pending) != napi_ok || !pending ||
      napi_get_and_clear_last_exception(env_, &exception) != napi_ok) {
    return;
  }
  Fail(exception);
}

void SocketCore::FailErrno(const char* syscall, int err) {
  napi_value error = ErrnoErrorValue(env_, syscall, err);
  if (error != nullptr) Fail(error);
}

void SocketCore::Fail(napi_value error) {
  // The socket is unusable: stop polling (a level-triggered error would spin), then report.
  napi_value on_error = RefValue(env_, error_callback_);
  napi_value self = RefValue(env_, self_);
  std::unique_ptr<Napi::AsyncContext> async = std::move(async_);
  StopAll();
  if (on_error == nullptr || self == nullptr || !async) {
    napi_fatal_exception(env_, error);
    return;
  }
  napi_value result;
  napi_value argv[] = {error};
  if (napi_make_callback(env_, *async, self, on_error, 1, argv, &result) == napi_ok) return;
  bool pending = false;
  napi_value exception;
  if (napi_is_exception_pending(env_, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env_, &exception) == napi_ok) {
    napi_fatal_exception(env_, exception);
  }
}

}  // namespace wp
