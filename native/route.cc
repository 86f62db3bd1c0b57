#include "route.h"

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "addr.h"
#include "args.h"
#include "errors.h"
#include "netlink.h"
#include "netlink_job.h"

namespace wp {

const char* RouteTypeName(unsigned type) {
  switch (type) {
    case RTN_UNSPEC: return "unspec";
    case RTN_UNICAST: return "unicast";
    case RTN_LOCAL: return "local";
    case RTN_BROADCAST: return "broadcast";
    case RTN_ANYCAST: return "anycast";
    case RTN_MULTICAST: return "multicast";
    case RTN_BLACKHOLE: return "blackhole";
    case RTN_UNREACHABLE: return "unreachable";
    case RTN_PROHIBIT: return "prohibit";
    case RTN_THROW: return "throw";
    case RTN_NAT: return "nat";
    case RTN_XRESOLVE: return "xresolve";
    default: return nullptr;
  }
}

// RTA_GATEWAY, or RTA_VIA (an IPv4 route through an IPv6 next hop).
static void ParseNextHopAttr(uint16_t type, const uint8_t* data, size_t len, Route* r) {
  if (type == RTA_GATEWAY) {
    r->gateway = FormatIP(data, len);
    r->gateway_ip.Set(data, len);
  } else if (type == RTA_VIA && len >= sizeof(rtvia)) {
    r->gateway = FormatIP(data + sizeof(rtvia), len - sizeof(rtvia));
    r->gateway_ip.Set(data + sizeof(rtvia), len - sizeof(rtvia));
  }
}

// RTA_MULTIPATH: a run of rtnexthop, each followed by its own attributes (RTA_GATEWAY or RTA_VIA). Every next hop
// goes into r->nexthops; the first also gives the route its oif and gateway (a fib-match on a multipath route
// reports that one). A next hop whose length runs past the attribute ends the walk: the rest is not trusted.
static void ParseMultipath(const uint8_t* data, size_t len, Route* r) {
  size_t off = 0;
  while (off + sizeof(rtnexthop) <= len) {
    const auto* nh = reinterpret_cast<const rtnexthop*>(data + off);
    if (nh->rtnh_len < sizeof(rtnexthop) || nh->rtnh_len > len - off) break;
    NextHop hop;
    hop.oif = nh->rtnh_ifindex;
    hop.flags = nh->rtnh_flags;
    hop.weight = static_cast<unsigned>(nh->rtnh_hops) + 1;
    if (nh->rtnh_len > RTNH_LENGTH(0)) {
      Route attrs;  // ParseNextHopAttr writes a Route's gateway fields
      ForEachAttr(RTNH_DATA(nh), static_cast<int>(nh->rtnh_len - RTNH_LENGTH(0)),
                  [&](uint16_t t, const uint8_t* d, size_t l) { ParseNextHopAttr(t, d, l, &attrs); });
      hop.gateway = std::move(attrs.gateway);
      hop.gateway_ip = attrs.gateway_ip;
    }
    if (r->nexthops.empty() && r->oif == 0) {
      r->oif = hop.oif;
      r->gateway = hop.gateway;
      r->gateway_ip = hop.gateway_ip;
    }
    r->nexthops.push_back(std::move(hop));
    off += RTNH_ALIGN(nh->rtnh_len);
  }
}

void ParseRoute(const nlmsghdr* h, Route* r) {
  if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg)) || r->found) return;
  const auto* rtm = static_cast<const rtmsg*>(NLMSG_DATA(h));
  r->found = true;
  r->type = rtm->rtm_type;
  r->table = rtm->rtm_table;
  r->scope = rtm->rtm_scope;
  r->dst_len = rtm->rtm_dst_len;
  r->protocol = rtm->rtm_protocol;
  r->flags = rtm->rtm_flags;
  ForEachAttr(RTM_RTA(rtm), static_cast<int>(RTM_PAYLOAD(h)), [&](uint16_t type, const uint8_t* data, size_t len) {
    switch (type) {
      case RTA_DST:
        r->dst = FormatIP(data, len);
        r->dst_ip.Set(data, len);
        break;
      case RTA_PREFSRC:
        r->prefsrc = FormatIP(data, len);
        r->prefsrc_ip.Set(data, len);
        break;
      case RTA_SRC:
        r->src = FormatIP(data, len);
        r->src_ip.Set(data, len);
        break;
      case RTA_TABLE:
        if (len >= 4) std::memcpy(&r->table, data, 4);
        break;
      case RTA_OIF:
        if (len >= 4) std::memcpy(&r->oif, data, 4);
        break;
      case RTA_PRIORITY:
        if (len >= 4) std::memcpy(&r->priority, data, 4);
        break;
      case RTA_METRICS:
        ForEachAttr(data, static_cast<int>(len), [&](uint16_t t, const uint8_t* d, size_t l) {
          if (t == RTAX_MTU && l >= 4) std::memcpy(&r->mtu, d, 4);
        });
        break;
      case RTA_MULTIPATH:
        r->multipath = true;
        ParseMultipath(data, len, r);
        break;
      case RTA_NH_ID:
        if (len >= 4) std::memcpy(&r->nhid, data, 4);
        break;
      default: ParseNextHopAttr(type, data, len, r); break;
    }
  });
}

namespace {

// The interface name as seen inside the socket's namespace (if_indextoname would ask the
// caller's namespace, where the same index can be another interface or none).
std::string LinkName(NetlinkSocket& nl, int index) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = index;
  NetlinkRequest req(RTM_GETLINK, 0, &ifi, sizeof(ifi));
  uint32_t mask = RTEXT_FILTER_SKIP_STATS;
  req.AddAttr(IFLA_EXT_MASK, &mask, sizeof(mask));
  std::string name;
  NetlinkError e = nl.Request(req, "RTM_GETLINK", [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return;
    const auto* reply = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    ForEachAttr(IFLA_RTA(reply), static_cast<int>(IFLA_PAYLOAD(h)), [&](uint16_t type, const uint8_t* data, size_t len) {
      if (type == IFLA_IFNAME) name.assign(reinterpret_cast<const char*>(data), strnlen(reinterpret_cast<const char*>(data), len));
    });
  });
  return e.err == 0 ? name : "";
}

}  // namespace

namespace {

struct RouteGetParams {
  int family = AF_INET;
  RawIp dst;
  std::optional<int64_t> oif;
  bool fib_match = false;
  bool with_name = true;
  std::optional<RawIp> src;
};

// One address of either family: an IPv4 number, text of either family, 16 bytes (IPv6), or an IpAddress object
// ({family: 4, v4} / {family: 6, bytes}). False after throwing a TypeError.
bool ReadRouteAddress(Napi::Env env, Napi::Value v, const std::string& what, RawIp* out) {
  const std::string expected = what +
                               " must be an IPv4 number or text, IPv6 text, 16 bytes of an IPv6 address, or "
                               "{family, v4 | bytes}";
  if (v.IsNumber()) {
    // An IPv4 address held as its number, as the sweeps hold them: no text on the way.
    std::optional<int64_t> n;
    if (!ReadOptionalInt(env, v, what.c_str(), 0, 0xffffffff, &n)) return false;
    uint32_t be = htonl(static_cast<uint32_t>(*n));
    out->Set(reinterpret_cast<const uint8_t*>(&be), 4);
    return true;
  }
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    uint8_t bytes[16];
    if (inet_pton(AF_INET, s.c_str(), bytes) == 1) {
      out->Set(bytes, 4);
      return true;
    }
    if (inet_pton(AF_INET6, s.c_str(), bytes) == 1) {
      out->Set(bytes, 16);
      return true;
    }
    ThrowTypeError(env, what + " is not a valid IPv4 or IPv6 address: \"" + s + "\"");
    return false;
  }
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    auto a = v.As<Napi::Uint8Array>();
    if (a.ElementLength() != 16) {
      ThrowTypeError(env, what + " must hold the 16 bytes of an IPv6 address (got " +
                              std::to_string(a.ElementLength()) + ")");
      return false;
    }
    out->Set(a.Data(), 16);
    return true;
  }
  if (v.IsObject()) {
    Napi::Object o = v.As<Napi::Object>();
    Napi::Value family = o.Get("family");
    if (family.IsNumber() && family.As<Napi::Number>().Int32Value() == 4 && o.Get("v4").IsNumber()) {
      return ReadRouteAddress(env, o.Get("v4"), what + ".v4", out);
    }
    if (family.IsNumber() && family.As<Napi::Number>().Int32Value() == 6) {
      Napi::Value bytes = o.Get("bytes");
      if (bytes.IsTypedArray()) return ReadRouteAddress(env, bytes, what + ".bytes", out);
    }
  }
  ThrowTypeError(env, expected);
  return false;
}

// The arguments of routeGet(destination, options); false after throwing a TypeError.
bool ReadRouteGetParams(Napi::Env env, Napi::Value destination, Napi::Value options, RouteGetParams* p) {
  if (!ReadRouteAddress(env, destination, "routeGet(destination): destination", &p->dst)) return false;
  p->family = p->dst.len == 4 ? AF_INET : AF_INET6;
  if (options.IsUndefined() || options.IsNull()) return true;
  if (!options.IsObject()) {
    ThrowTypeError(env, "routeGet(destination, options): options must be an object");
    return false;
  }
  Napi::Object o = options.As<Napi::Object>();
  std::optional<bool> fib_match, with_name;
  if (!ReadOptionalInt(env, o.Get("oif"), "options.oif", 0, INT32_MAX, &p->oif) ||
      !ReadOptionalBool(env, o.Get("fibMatch"), "options.fibMatch", &fib_match) ||
      !ReadOptionalBool(env, o.Get("withName"), "options.withName", &with_name)) {
    return false;
  }
  p->fib_match = fib_match.value_or(false);
  p->with_name = with_name.value_or(true);
  Napi::Value s = o.Get("src");
  if (!s.IsUndefined() && !s.IsNull()) {
    RawIp a;
    if (!ReadRouteAddress(env, s, "options.src", &a)) return false;
    if (a.len != p->dst.len) {
      ThrowTypeError(env, "options.src must be of the destination's address family");
      return false;
    }
    p->src = a;
  }
  return true;
}

// The netns option of the free routeGet functions ("" when absent); false after throwing a TypeError.
bool ReadRouteGetNetns(Napi::Env env, Napi::Value options, std::string* netns) {
  netns->clear();
  return !options.IsObject() || ReadNetns(env, options.As<Napi::Object>().Get("netns"), "options.netns", netns);
}

class RouteGetJob : public NetlinkJob {
 public:
  explicit RouteGetJob(const RouteGetParams& p) : p_(p) {}

  NetlinkError Run(NetlinkSocket& nl) override {
    rtmsg rtm{};
    const auto bits = static_cast<unsigned char>(p_.dst.len * 8);
    rtm.rtm_family = static_cast<unsigned char>(p_.family);
    rtm.rtm_dst_len = bits;
    // LOOKUP_TABLE: report the table the route came from rather than main.
    rtm.rtm_flags = RTM_F_LOOKUP_TABLE | (p_.fib_match ? RTM_F_FIB_MATCH : 0);
    if (p_.src) rtm.rtm_src_len = bits;
    NetlinkRequest req(RTM_GETROUTE, 0, &rtm, sizeof(rtm));
    req.AddAttr(RTA_DST, p_.dst.bytes, p_.dst.len);
    if (p_.src) req.AddAttr(RTA_SRC, p_.src->bytes, p_.src->len);
    if (p_.oif && *p_.oif != 0) {
      uint32_t index = static_cast<uint32_t>(*p_.oif);
      req.AddAttr(RTA_OIF, &index, sizeof(index));
    }
    NetlinkError e = nl.Request(req, "RTM_GETROUTE", [&](const nlmsghdr* h) { ParseRoute(h, &route_); });
    if (e.err != 0) return e;
    if (!route_.found) {
      e.err = ENETUNREACH;
      e.syscall = "RTM_GETROUTE";
      e.note = "no route in the kernel's reply";
      return e;
    }
    // The kernel leaves RTA_PREFSRC out when the source it picked is the RTA_SRC we asked with.
    if (route_.prefsrc.empty() && !p_.fib_match) {
      route_.prefsrc = route_.src;
      route_.prefsrc_ip = route_.src_ip;
    }
    // The name costs a second request; callers that already hold the link list skip it.
    if (p_.with_name && route_.oif > 0) ifname_ = LinkName(nl, route_.oif);
    return e;
  }

  Napi::Value Result(Napi::Env env) override {
    const Route& route = route_;
    Napi::Object out = Napi::Object::New(env);
    const char* type_name = RouteTypeName(route.type);
    out.Set("type", type_name != nullptr ? Napi::String::New(env, type_name)
                                         : Napi::String::New(env, std::to_string(route.type)));
    out.Set("ifindex", Napi::Number::New(env, route.oif));
    out.Set("ifname", Napi::String::New(env, ifname_));
    out.Set("gateway", route.gateway.empty() ? env.Null() : Napi::String::New(env, route.gateway));
    out.Set("prefsrc", route.prefsrc.empty() ? env.Null() : Napi::String::New(env, route.prefsrc));
    const bool v6 = p_.family == AF_INET6;
    out.Set("dst", Napi::String::New(env, !route.dst.empty() ? route.dst : v6 ? "::" : "0.0.0.0"));
    out.Set("dstLength", Napi::Number::New(env, route.dst_len));
    out.Set("gatewayIp", IpValue(env, route.gateway_ip));
    out.Set("prefsrcIp", IpValue(env, route.prefsrc_ip));
    RawIp dst = route.dst_ip;
    if (dst.empty()) dst.len = v6 ? 16 : 4;  // the default route: 0.0.0.0 or ::, as "dst" says
    out.Set("dstIp", IpValue(env, dst));
    out.Set("table", Napi::Number::New(env, route.table));
    out.Set("scope", Napi::Number::New(env, route.scope));
    out.Set("mtu", route.mtu == 0 ? env.Null() : Napi::Number::New(env, route.mtu));
    return out;
  }

 private:
  RouteGetParams p_;
  Route route_;
  std::string ifname_;
};

}  // namespace

std::unique_ptr<NetlinkJob> MakeRouteGetJob(Napi::Env env, Napi::Value destination, Napi::Value options) {
  RouteGetParams p;
  if (!ReadRouteGetParams(env, destination, options, &p)) return nullptr;
  return std::make_unique<RouteGetJob>(p);
}

Napi::Value RouteGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string netns;
  if (!ReadRouteGetNetns(env, info[1], &netns)) return env.Undefined();
  std::unique_ptr<NetlinkJob> job = MakeRouteGetJob(env, info[0], info[1]);
  if (!job) return env.Undefined();
  return RunJobNow(env, nullptr, netns, *job);
}

Napi::Value RouteGetAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string netns;
  if (!ReadRouteGetNetns(env, info[1], &netns)) return env.Undefined();
  std::unique_ptr<NetlinkJob> job = MakeRouteGetJob(env, info[0], info[1]);
  if (!job) return env.Undefined();
  return QueueJob(env, nullptr, netns, std::move(job));
}

}  // namespace wp
