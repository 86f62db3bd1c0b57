#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "addr.h"
#include "netlink.h"
#include "netlink_job.h"

namespace wp {

// One next hop of a multipath route (an rtnexthop of RTA_MULTIPATH).
struct NextHop {
  std::string gateway;  // "" for a next hop without a gateway (a device only)
  RawIp gateway_ip;
  int oif = 0;
  unsigned flags = 0;   // RTNH_F_*: onlink, dead, linkdown, ...
  unsigned weight = 1;  // rtnh_hops + 1, as `ip route` prints it
};

// One route message (IPv4 or IPv6), as the kernel describes it.
struct Route {
  bool found = false;
  bool multipath = false;
  unsigned protocol = 0;
  uint32_t priority = 0;
  unsigned type = 0;
  uint32_t table = 0;
  unsigned scope = 0;
  unsigned dst_len = 0;
  std::string dst;
  std::string gateway;
  std::string prefsrc;
  std::string src;
  // The same addresses as numbers (dst empty for the default route: 0.0.0.0).
  RawIp dst_ip;
  RawIp gateway_ip;
  RawIp prefsrc_ip;
  RawIp src_ip;
  int oif = 0;
  // RTA_METRICS' RTAX_MTU: the route's own MTU, or (a route lookup) the path MTU the kernel cached for the
  // destination from a frag-needed / packet-too-big; 0 for none.
  uint32_t mtu = 0;
  // rtm_flags: for a route with one next hop, its RTNH_F_* flags too (onlink, dead, linkdown)
  unsigned flags = 0;
  // RTA_NH_ID: the route uses a nexthop object (`ip nexthop`), 0 when it does not
  uint32_t nhid = 0;
  // every next hop of a multipath route (RTA_MULTIPATH), in the kernel's order; empty otherwise
  std::vector<NextHop> nexthops;
};

// Fills *r from an RTM_NEWROUTE message (once: a Route already found is left alone).
void ParseRoute(const nlmsghdr* h, Route* r);

// "unicast", "local", ... or nullptr for an unknown RTN_* number.
const char* RouteTypeName(unsigned type);

// routeGet(destination, options?): RTM_GETROUTE for one IPv4 /32 or IPv6 /128 (RouteInfo in types.ts).
Napi::Value RouteGet(const Napi::CallbackInfo& info);
// routeGetAsync(destination, options?): the same on a libuv worker thread; a promise.
Napi::Value RouteGetAsync(const Napi::CallbackInfo& info);

// The job behind them, for a NetlinkHandle's own socket; options as RouteGetOptions (netns ignored) plus
// withName. Null after throwing a TypeError for a malformed argument.
std::unique_ptr<NetlinkJob> MakeRouteGetJob(Napi::Env env, Napi::Value destination, Napi::Value options);

}  // namespace wp
