// Batched sends off the JavaScript thread. On a veth or any software path the kernel does the whole
// receive side of every frame (bridge, forwarding, the peer's TCP stack, even the answer coming back) in
// the sending thread's softirq: a sweep's sendmmsg costs microseconds per frame. Done on a worker thread,
// that work runs on another CPU while JavaScript builds the next batch and reads the answers (measured in
// bench/scan-sweep.js). The frames are copied, so the caller may reuse its buffer at once.
#include "async_send.h"

#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

#include "args.h"
#include "batch_tx.h"
#include "clock.h"
#include "errors.h"

namespace wp {
namespace {

// How long a full interface queue may block a batch before the send gives up and reports what went out.
constexpr auto kStallLimit = std::chrono::seconds(5);

class SendWorker : public Napi::AsyncWorker {
 public:
  SendWorker(Napi::Function callback, int fd, std::vector<uint8_t> data, size_t frame_length, size_t count)
      : Napi::AsyncWorker(callback, "wireprobe:sendFramesAsync"),
        fd_(fd),
        data_(std::move(data)),
        frame_length_(frame_length),
        count_(count) {}

  void Execute() override {
    std::vector<ByteView> frames(count_);
    for (size_t i = 0; i < count_; i++) frames[i] = {data_.data() + i * frame_length_, frame_length_};
    auto deadline = std::chrono::steady_clock::now() + kStallLimit;
    while (sent_ < count_) {
      std::vector<ByteView> rest(frames.begin() + static_cast<std::ptrdiff_t>(sent_), frames.end());
      SendResult r = SendBatch(fd_, rest, nullptr, 0);
      sent_ += r.sent;
      done_ms_ = MonotonicMs();
      if (r.err != 0) {
        err_ = r.err;
        return;
      }
      if (sent_ == count_) return;
      if (r.sent == 0 && std::chrono::steady_clock::now() > deadline) return;
      // The interface queue is full (EAGAIN/ENOBUFS): wait until the socket can send again.
      pollfd p{fd_, POLLOUT, 0};
      poll(&p, 1, 10);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Value sent = Napi::Number::New(env, static_cast<double>(sent_));
    Napi::Value done = Napi::Number::New(env, done_ms_);
    if (err_ != 0) {
      Napi::Error e = ErrnoError(env, "sendmmsg", err_);
      e.Value().Set("sent", sent);
      Callback().Call({e.Value(), sent, done});
      return;
    }
    Callback().Call({env.Null(), sent, done});
  }

 private:
  int fd_;
  std::vector<uint8_t> data_;
  size_t frame_length_;
  size_t count_;
  size_t sent_ = 0;
  double done_ms_ = 0;
  int err_ = 0;
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
  auto* worker = new SendWorker(info[4].As<Napi::Function>(), static_cast<int>(fd), std::move(copy),
                                static_cast<size_t>(frame_length), static_cast<size_t>(count));
  worker->Queue();
  return env.Undefined();
}

}  // namespace wp
