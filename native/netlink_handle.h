#pragma once

#include <napi.h>

#include <memory>

#include "netlink_job.h"

namespace wp {

// new Netlink(netns?): one NETLINK_ROUTE socket kept open in a namespace, so a prober asks the
// kernel many questions without entering the namespace (a thread and a setns) for each. Each question has a
// synchronous form and an *Async one that asks on a libuv worker thread and returns a promise.
class NetlinkHandle : public Napi::ObjectWrap<NetlinkHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit NetlinkHandle(const Napi::CallbackInfo& info);

 private:
  using MakeJob = std::unique_ptr<NetlinkJob> (*)(const Napi::CallbackInfo& info);
  // The request made by make(info): run now (its result, or throws), or on a worker thread (a promise). On a
  // closed handle: EBADF naming `what`, thrown or as a rejected promise.
  Napi::Value Now(const Napi::CallbackInfo& info, const char* what, MakeJob make);
  Napi::Value Later(const Napi::CallbackInfo& info, const char* what, MakeJob make);

  Napi::Value ListLinks(const Napi::CallbackInfo& info);
  Napi::Value ListLinksAsync(const Napi::CallbackInfo& info);
  Napi::Value RouteGet(const Napi::CallbackInfo& info);
  Napi::Value RouteGetAsync(const Napi::CallbackInfo& info);
  Napi::Value ListRoutes(const Napi::CallbackInfo& info);
  Napi::Value ListRoutesAsync(const Napi::CallbackInfo& info);
  Napi::Value ListRules(const Napi::CallbackInfo& info);
  Napi::Value ListRulesAsync(const Napi::CallbackInfo& info);
  Napi::Value ListNeighbours(const Napi::CallbackInfo& info);
  Napi::Value ListNeighboursAsync(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);

  std::shared_ptr<SharedNetlink> shared_;  // null once closed
};

}  // namespace wp
