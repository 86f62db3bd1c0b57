#pragma once

#include <napi.h>

#include "netlink.h"

namespace wp {

// new Netlink(netns?): one NETLINK_ROUTE socket kept open in a namespace, so a prober asks the
// kernel many questions without entering the namespace (a thread and a setns) for each.
class NetlinkHandle : public Napi::ObjectWrap<NetlinkHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit NetlinkHandle(const Napi::CallbackInfo& info);

 private:
  bool CheckOpen(Napi::Env env, const char* what);
  Napi::Value ListLinks(const Napi::CallbackInfo& info);
  Napi::Value RouteGet(const Napi::CallbackInfo& info);
  Napi::Value ListRoutes(const Napi::CallbackInfo& info);
  Napi::Value ListRules(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);

  NetlinkSocket nl_;
  bool open_ = false;
};

}  // namespace wp
