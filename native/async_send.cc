// Batched sends off the JavaScript thread. On a veth or any software path the kernel does the whole
// receive side of every frame (bridge, forwarding, the peer's TCP stack, even the answer coming back) in
// the sending thread's softirq: a sweep's sendmmsg costs microseconds per frame. Done on a worker thread,
// that work runs on another CPU while JavaScript builds the next batch and reads the answers (measured in
// bench/scan-sweep.js). The frames are copied, so the caller may reuse its buffer at once.
//
// The worker sends on a duplicate of the fd, made when the send is called: the socket may be closed meanwhile
// and its number given to a new socket, and a bare number would then send the batch there. The duplicate keeps
// the socket it was given, and the socket's gate, closed with it, stops the send before its next sendmmsg.
#include "async_send.h"

#include <fcntl.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "args.h"
#include "batch_tx.h"
#include "clock.h"
#include "errors.h"
#include "send_gate.h"
#include "tx_stamps.h"
#include "unique_fd.h"

namespace wp {
namespace {

// How long a full interface queue may block a batch before the send gives up and reports what went out.
constexpr int kStallLimitMs = 5000;

class SendWorker : public Napi::AsyncWorker {
 public:
  // fd: the duplicate to send on, or empty with dup_err saying why it could not be made.
  SendWorker(Napi::Function callback, UniqueFd fd, int dup_err, std::shared_ptr<SendGate> gate,
             std::vector<uint8_t> data, size_t frame_length, size_t count, std::shared_ptr<TxState> tx,
             uint32_t reserved)
      : Napi::AsyncWorker(callback, "wireprobe:sendFramesAsync"),
        fd_(std::move(fd)),
        gate_(std::move(gate)),
        data_(std::move(data)),
        frame_length_(frame_length),
        count_(count),
        tx_(std::move(tx)),
        reserved_(reserved),
        err_(dup_err),
        syscall_(dup_err != 0 ? "fcntl(F_DUPFD_CLOEXEC)" : "sendmmsg") {}

  void Execute() override {
    if (err_ == 0) {
      std::vector<ByteView> frames(count_);
      for (size_t i = 0; i < count_; i++) frames[i] = {data_.data() + i * frame_length_, frame_length_};
      const SendGate* gate = gate_.get();
      SendResult r = tx_ ? tx_->Send(fd_.get(), frames, nullptr, 0, reserved_, kStallLimitMs, &first_id_, gate)
                         : SendBatchWaiting(fd_.get(), frames, nullptr, 0, nullptr, kStallLimitMs, gate);
      sent_ = r.sent;
      err_ = r.err;
      closed_ = gate != nullptr && gate->closed();
    }
    // The last reference to a socket closed meanwhile: the socket goes now, not when JS next runs.
    fd_.reset();
    done_ms_ = MonotonicMs();
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Value sent = Napi::Number::New(env, static_cast<double>(sent_));
    Napi::Value done = Napi::Number::New(env, done_ms_);
    Napi::Value first = Napi::Number::New(env, first_id_ < 0 ? std::nan("") : first_id_);
    if (err_ != 0) {
      Napi::Error e = ErrnoError(env, syscall_, err_, "",
                                 err_ == EBADF && closed_ ? "socket is closed" : "");
      e.Value().Set("sent", sent);
      Callback().Call({e.Value(), sent, done, first});
      return;
    }
    Callback().Call({env.Null(), sent, done, first});
  }

 private:
  UniqueFd fd_;
  std::shared_ptr<SendGate> gate_;
  std::vector<uint8_t> data_;
  size_t frame_length_;
  size_t count_;
  std::shared_ptr<TxState> tx_;
  uint32_t reserved_;
  int err_;
  const char* syscall_;
  bool closed_ = false;
  size_t sent_ = 0;
  double done_ms_ = 0;
  double first_id_ = -1;
};

}  // namespace

Napi::Value SendFramesAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t fd = 0;
  int64_t frame_length = 0;
  int64_t count = 0;
  if (!ReadRequiredInt(env, info[0], "sendFramesAsync: fd", 0, INT32_MAX, &fd)) return env.Undefined();
  if (!info[1].IsBuffer()) {
    ThrowTypeError(env, "sendFramesAsync: data must be a Buffer");
    return env.Undefined();
  }
  auto data = info[1].As<Napi::Buffer<uint8_t>>();
  if (!ReadRequiredInt(env, info[2], "sendFramesAsync: frameLength", 1, 65535, &frame_length)) {
    return env.Undefined();
  }
  int64_t room = static_cast<int64_t>(data.Length()) / frame_length;
  if (!ReadRequiredInt(env, info[3], "sendFramesAsync: count", 0, room, &count)) return env.Undefined();
  if (!info[4].IsFunction()) {
    ThrowTypeError(env, "sendFramesAsync: callback must be a function");
    return env.Undefined();
  }
  size_t bytes = static_cast<size_t>(frame_length * count);
  std::vector<uint8_t> copy(data.Data(), data.Data() + bytes);
  UniqueFd dup(fcntl(static_cast<int>(fd), F_DUPFD_CLOEXEC, 0));
  int dup_err = dup ? 0 : errno;
  // The ids are handed out now, in call order, so the caller knows them before any timestamp or answer arrives.
  std::shared_ptr<TxState> tx = dup ? FindTxState(static_cast<int>(fd)) : nullptr;
  if (tx && !tx->enabled()) tx.reset();
  uint32_t reserved = tx ? tx->Reserve(static_cast<size_t>(count)) : 0;
  auto* worker = new SendWorker(info[4].As<Napi::Function>(), std::move(dup), dup_err,
                                FindSendGate(static_cast<int>(fd)), std::move(copy),
                                static_cast<size_t>(frame_length), static_cast<size_t>(count), tx, reserved);
  worker->Queue();
  return Napi::Number::New(env, tx ? static_cast<double>(reserved) : std::nan(""));
}

}  // namespace wp
