#pragma once

#include <napi.h>

#include "socket_wrap.h"

namespace wp {

// AF_PACKET SOCK_RAW socket bound to one interface and ethertype (NativePacketSocket in types.ts).
class PacketSocket : public SocketWrap<PacketSocket> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit PacketSocket(const Napi::CallbackInfo& info);

 private:
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);

};

}  // namespace wp
