#pragma once

#include <napi.h>

#include "netlink.h"

namespace wp {

// listLinks(netns?): RTM_GETLINK + RTM_GETADDR dumps joined per link (LinkInfo[] in types.ts).
Napi::Value ListLinks(const Napi::CallbackInfo& info);

// The same on an open netlink socket (NetlinkHandle keeps one per namespace).
Napi::Value ListLinksOn(Napi::Env env, NetlinkSocket& nl);

}  // namespace wp
