#include "netlink_handle.h"

#include <sys/socket.h>

#include <cerrno>
#include <optional>
#include <string>
#include <utility>

#include "args.h"
#include "errors.h"
#include "links.h"
#include "neigh_dump.h"
#include "route.h"
#include "route_dump.h"

namespace wp {

void NetlinkHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "Netlink",
                                   {
                                       InstanceMethod<&NetlinkHandle::ListLinks>("listLinks"),
                                       InstanceMethod<&NetlinkHandle::ListLinksAsync>("listLinksAsync"),
                                       InstanceMethod<&NetlinkHandle::RouteGet>("routeGet"),
                                       InstanceMethod<&NetlinkHandle::RouteGetAsync>("routeGetAsync"),
                                       InstanceMethod<&NetlinkHandle::ListRoutes>("listRoutesPacked"),
                                       InstanceMethod<&NetlinkHandle::ListRoutesAsync>("listRoutesPackedAsync"),
                                       InstanceMethod<&NetlinkHandle::ListRules>("listRules"),
                                       InstanceMethod<&NetlinkHandle::ListRulesAsync>("listRulesAsync"),
                                       InstanceMethod<&NetlinkHandle::ListNeighbours>("listNeighbours"),
                                       InstanceMethod<&NetlinkHandle::ListNeighboursAsync>("listNeighboursAsync"),
                                       InstanceMethod<&NetlinkHandle::Close>("close"),
                                   });
  exports.Set("Netlink", cls);
}

NetlinkHandle::NetlinkHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetlinkHandle>(info) {
  Napi::Env env = info.Env();
  std::string netns;
  if (!ReadNetns(env, info[0], "new Netlink(netns): netns", &netns)) return;
  auto shared = std::make_shared<SharedNetlink>();
  SysResult opened = shared->nl.Open(netns);
  if (opened.err != 0) {
    ThrowSysResult(env, opened, netns);
    return;
  }
  shared_ = std::move(shared);
}

namespace {

napi_value ClosedError(Napi::Env env, const char* what) {
  return ErrnoErrorValue(env, what, EBADF, "", "netlink handle is closed");
}

std::unique_ptr<NetlinkJob> LinksJob(const Napi::CallbackInfo&) { return MakeListLinksJob(); }
// The dumps' optional argument: the address family, 4 (the default) or 6. 0 after a TypeError was thrown.
int DumpFamily(const Napi::CallbackInfo& info) {
  std::optional<int64_t> family;
  if (!ReadOptionalInt(info.Env(), info[0], "family", 4, 6, &family)) return 0;
  if (family.value_or(4) == 5) {
    Napi::TypeError::New(info.Env(), "family must be 4 or 6").ThrowAsJavaScriptException();
    return 0;
  }
  return family.value_or(4) == 6 ? AF_INET6 : AF_INET;
}

std::unique_ptr<NetlinkJob> RoutesJob(const Napi::CallbackInfo& info) {
  const int family = DumpFamily(info);
  return family == 0 ? nullptr : MakeListRoutesJob(family);
}
std::unique_ptr<NetlinkJob> RulesJob(const Napi::CallbackInfo& info) {
  const int family = DumpFamily(info);
  return family == 0 ? nullptr : MakeListRulesJob(family);
}
std::unique_ptr<NetlinkJob> NeighboursJob(const Napi::CallbackInfo& info) {
  const int family = DumpFamily(info);
  return family == 0 ? nullptr : MakeListNeighboursJob(family);
}
std::unique_ptr<NetlinkJob> RouteJob(const Napi::CallbackInfo& info) {
  return MakeRouteGetJob(info.Env(), info[0], info[1]);
}

}  // namespace

Napi::Value NetlinkHandle::Now(const Napi::CallbackInfo& info, const char* what, MakeJob make) {
  Napi::Env env = info.Env();
  if (!shared_) {
    napi_value error = ClosedError(env, what);
    if (error != nullptr) napi_throw(env, error);
    return env.Undefined();
  }
  std::unique_ptr<NetlinkJob> job = make(info);
  if (!job) return env.Undefined();  // a malformed argument: TypeError thrown
  return RunJobNow(env, shared_.get(), "", *job);
}

Napi::Value NetlinkHandle::Later(const Napi::CallbackInfo& info, const char* what, MakeJob make) {
  Napi::Env env = info.Env();
  if (!shared_) return RejectedPromise(env, ClosedError(env, what));
  std::unique_ptr<NetlinkJob> job = make(info);
  if (!job) return env.Undefined();
  return QueueJob(env, shared_, "", std::move(job));
}

Napi::Value NetlinkHandle::ListLinks(const Napi::CallbackInfo& info) { return Now(info, "RTM_GETLINK", LinksJob); }
Napi::Value NetlinkHandle::ListLinksAsync(const Napi::CallbackInfo& info) {
  return Later(info, "RTM_GETLINK", LinksJob);
}
Napi::Value NetlinkHandle::RouteGet(const Napi::CallbackInfo& info) { return Now(info, "RTM_GETROUTE", RouteJob); }
Napi::Value NetlinkHandle::RouteGetAsync(const Napi::CallbackInfo& info) {
  return Later(info, "RTM_GETROUTE", RouteJob);
}
Napi::Value NetlinkHandle::ListRoutes(const Napi::CallbackInfo& info) { return Now(info, "RTM_GETROUTE", RoutesJob); }
Napi::Value NetlinkHandle::ListRoutesAsync(const Napi::CallbackInfo& info) {
  return Later(info, "RTM_GETROUTE", RoutesJob);
}
Napi::Value NetlinkHandle::ListRules(const Napi::CallbackInfo& info) { return Now(info, "RTM_GETRULE", RulesJob); }
Napi::Value NetlinkHandle::ListRulesAsync(const Napi::CallbackInfo& info) {
  return Later(info, "RTM_GETRULE", RulesJob);
}

Napi::Value NetlinkHandle::ListNeighbours(const Napi::CallbackInfo& info) {
  return Now(info, "RTM_GETNEIGH", NeighboursJob);
}
Napi::Value NetlinkHandle::ListNeighboursAsync(const Napi::CallbackInfo& info) {
  return Later(info, "RTM_GETNEIGH", NeighboursJob);
}

void NetlinkHandle::Close(const Napi::CallbackInfo&) {
  // Refuses further requests; the socket closes once no request under way on a worker thread holds it.
  shared_.reset();
}

}  // namespace wp
