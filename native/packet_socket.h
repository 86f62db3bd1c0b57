#pragma once

#include <napi.h>

#include "socket_core.h"

namespace wp {

// AF_PACKET SOCK_RAW socket bound to one interface and ethertype (NativePacketSocket in types.ts).
class PacketSocket : public Napi::ObjectWrap<PacketSocket> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit PacketSocket(const Napi::CallbackInfo& info);

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value StartReceive(const Napi::CallbackInfo& info);
  Napi::Value StopReceive(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);

  SocketCore core_;
};

}  // namespace wp
