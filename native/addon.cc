// Module entry: registers the classes and functions of NativeBinding (src/native/types.ts).
#include <napi.h>

#include "async_send.h"
#include "capabilities.h"
#include "clock.h"
#include "inet_socket.h"
#include "links.h"
#include "netlink_handle.h"
#include "packet_socket.h"
#include "route.h"
#include "socket_fd.h"
#include "sockopts.h"

namespace wp {
namespace {

Napi::Value MonotonicMsJS(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), MonotonicMs()); }

}  // namespace
}  // namespace wp

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace wp;
  RaiseNetCapabilities();
  KeepReceiveStampingOn();
  PacketSocket::Init(env, exports);
  InetSocket::Init(env, exports);
  NetlinkHandle::Init(env, exports);
  exports.Set("listLinks", Napi::Function::New<ListLinks>(env, "listLinks"));
  exports.Set("listLinksAsync", Napi::Function::New<ListLinksAsync>(env, "listLinksAsync"));
  exports.Set("routeGet", Napi::Function::New<RouteGet>(env, "routeGet"));
  exports.Set("routeGetAsync", Napi::Function::New<RouteGetAsync>(env, "routeGetAsync"));
  exports.Set("monotonicMs", Napi::Function::New<MonotonicMsJS>(env, "monotonicMs"));
  exports.Set("sendFramesAsync", Napi::Function::New<SendFramesAsync>(env, "sendFramesAsync"));
  exports.Set("openSocketFd", Napi::Function::New<OpenSocketFd>(env, "openSocketFd"));
  return exports;
}

NODE_API_MODULE(wireprobe, Init)
