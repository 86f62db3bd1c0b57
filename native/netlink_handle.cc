#include "netlink_handle.h"

#include <cerrno>
#include <string>

#include "args.h"
#include "errors.h"
#include "links.h"
#include "route.h"
#include "route_dump.h"

namespace wp {

void NetlinkHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "Netlink",
                                   {
                                       InstanceMethod<&NetlinkHandle::ListLinks>("listLinks"),
                                       InstanceMethod<&NetlinkHandle::RouteGet>("routeGet"),
                                       InstanceMethod<&NetlinkHandle::ListRoutes>("listRoutes"),
                                       InstanceMethod<&NetlinkHandle::ListRules>("listRules"),
                                       InstanceMethod<&NetlinkHandle::Close>("close"),
                                   });
  exports.Set("Netlink", cls);
}

NetlinkHandle::NetlinkHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetlinkHandle>(info) {
  Napi::Env env = info.Env();
  std::string netns;
  if (!ReadNetns(env, info[0], "new Netlink(netns): netns", &netns)) return;
  SysResult opened = nl_.Open(netns);
  if (opened.err != 0) {
    ThrowSysResult(env, opened, netns);
    return;
  }
  open_ = true;
}

bool NetlinkHandle::CheckOpen(Napi::Env env, const char* what) {
  if (open_) return true;
  ThrowErrno(env, what, EBADF, "", "netlink handle is closed");
  return false;
}

Napi::Value NetlinkHandle::ListLinks(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env(), "RTM_GETLINK")) return info.Env().Undefined();
  return ListLinksOn(info.Env(), nl_);
}

Napi::Value NetlinkHandle::RouteGet(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env(), "RTM_GETROUTE")) return info.Env().Undefined();
  return RouteGetOn(info.Env(), nl_, info[0], info[1]);
}

Napi::Value NetlinkHandle::ListRoutes(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env(), "RTM_GETROUTE")) return info.Env().Undefined();
  return ListRoutesOn(info.Env(), nl_);
}

Napi::Value NetlinkHandle::ListRules(const Napi::CallbackInfo& info) {
  if (!CheckOpen(info.Env(), "RTM_GETRULE")) return info.Env().Undefined();
  return ListRulesOn(info.Env(), nl_);
}

void NetlinkHandle::Close(const Napi::CallbackInfo&) {
  // The socket's fd is released with the object; closing early just refuses further requests.
  open_ = false;
  nl_ = NetlinkSocket();
}

}  // namespace wp
