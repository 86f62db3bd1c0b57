#pragma once

#include <napi.h>

#include <sys/socket.h>

#include "socket_wrap.h"

namespace wp {

// AF_INET or AF_INET6 SOCK_RAW / SOCK_DGRAM socket (NativeInetSocket in types.ts).
class InetSocket : public SocketWrap<InetSocket> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit InetSocket(const Napi::CallbackInfo& info);

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value LocalAddress(const Napi::CallbackInfo& info);

  bool raw_ = false;
  int family_ = AF_INET;  // AF_INET or AF_INET6: the family of every name it sends to
};

}  // namespace wp
