#pragma once

#include <napi.h>

#include "netlink.h"

namespace wp {

// RTM_GETROUTE dump of every IPv4 route in every table (RouteEntry[] in types.ts). Lets a prober
// answer most destinations of a sweep from one snapshot of the tables instead of one request each.
Napi::Value ListRoutesOn(Napi::Env env, NetlinkSocket& nl);

// RTM_GETRULE dump of the IPv4 policy rules (RuleEntry[] in types.ts).
Napi::Value ListRulesOn(Napi::Env env, NetlinkSocket& nl);

}  // namespace wp
