#pragma once

#include <napi.h>

#include "socket_core.h"

namespace wp {

// AF_INET SOCK_RAW / SOCK_DGRAM socket (NativeInetSocket in types.ts).
class InetSocket : public Napi::ObjectWrap<InetSocket> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit InetSocket(const Napi::CallbackInfo& info);

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value StartReceive(const Napi::CallbackInfo& info);
  Napi::Value StopReceive(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value LocalAddress(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);

  SocketCore core_;
  bool raw_ = false;
};

}  // namespace wp
