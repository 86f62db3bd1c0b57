#include "route_dump.h"

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <vector>

#include "addr.h"
#include "errors.h"
#include "route.h"

namespace wp {

Napi::Value ListRoutesOn(Napi::Env env, NetlinkSocket& nl) {
  rtmsg rtm{};
  rtm.rtm_family = AF_INET;
  NetlinkRequest req(RTM_GETROUTE, 0, &rtm, sizeof(rtm));
  std::vector<Route> routes;
  NetlinkError e = nl.Dump(
      req, "RTM_GETROUTE", [&] { routes.clear(); },
      [&](const nlmsghdr* h) {
        Route r;
        ParseRoute(h, &r);
        if (r.found) routes.push_back(std::move(r));
      });
  if (e.err != 0) {
    ThrowErrno(env, e.syscall, e.err, "", e.note);
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, routes.size());
  for (size_t i = 0; i < routes.size(); i++) {
    const Route& r = routes[i];
    Napi::Object o = Napi::Object::New(env);
    const char* name = RouteTypeName(r.type);
    o.Set("type", Napi::String::New(env, name != nullptr ? name : std::to_string(r.type)));
    o.Set("table", Napi::Number::New(env, r.table));
    o.Set("protocol", Napi::Number::New(env, r.protocol));
    o.Set("scope", Napi::Number::New(env, r.scope));
    o.Set("dst", Napi::String::New(env, r.dst.empty() ? "0.0.0.0" : r.dst));
    o.Set("dstLength", Napi::Number::New(env, r.dst_len));
    o.Set("gateway", r.gateway.empty() ? env.Null() : Napi::String::New(env, r.gateway));
    o.Set("prefsrc", r.prefsrc.empty() ? env.Null() : Napi::String::New(env, r.prefsrc));
    o.Set("ifindex", Napi::Number::New(env, r.oif));
    o.Set("priority", Napi::Number::New(env, r.priority));
    o.Set("multipath", Napi::Boolean::New(env, r.multipath));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

namespace {

struct Rule {
  uint32_t priority = 0;
  uint32_t table = 0;
  unsigned action = 0;
  unsigned dst_len = 0;
  unsigned src_len = 0;
  std::string dst;
  std::string src;
  // any selector besides the addresses: iif, oif, fwmark, tos, uid range, protocol, ports, l3mdev
  bool other_selectors = false;
  bool invert = false;
};

}  // namespace

Napi::Value ListRulesOn(Napi::Env env, NetlinkSocket& nl) {
  fib_rule_hdr frh{};
  frh.family = AF_INET;
  NetlinkRequest req(RTM_GETRULE, 0, &frh, sizeof(frh));
  std::vector<Rule> rules;
  NetlinkError e = nl.Dump(
      req, "RTM_GETRULE", [&] { rules.clear(); },
      [&](const nlmsghdr* h) {
        if (h->nlmsg_type != RTM_NEWRULE || h->nlmsg_len < NLMSG_LENGTH(sizeof(fib_rule_hdr))) return;
        const auto* hdr = static_cast<const fib_rule_hdr*>(NLMSG_DATA(h));
        Rule r;
        r.table = hdr->table;
        r.action = hdr->action;
        r.dst_len = hdr->dst_len;
        r.src_len = hdr->src_len;
        r.invert = (hdr->flags & FIB_RULE_INVERT) != 0;
        r.other_selectors = hdr->tos != 0;
        const auto* attrs = reinterpret_cast<const uint8_t*>(hdr) + NLMSG_ALIGN(sizeof(fib_rule_hdr));
        const int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(fib_rule_hdr)));
        ForEachAttr(attrs, len, [&](uint16_t type, const uint8_t* data, size_t alen) {
          switch (type) {
            case FRA_DST: r.dst = FormatIP(data, alen); break;
            case FRA_SRC: r.src = FormatIP(data, alen); break;
            case FRA_PRIORITY:
              if (alen >= 4) std::memcpy(&r.priority, data, 4);
              break;
            case FRA_TABLE:
              if (alen >= 4) std::memcpy(&r.table, data, 4);
              break;
            case FRA_IIFNAME:
            case FRA_OIFNAME:
            case FRA_FWMARK:
            case FRA_UID_RANGE:
            case FRA_IP_PROTO:
            case FRA_SPORT_RANGE:
            case FRA_DPORT_RANGE:
            case FRA_L3MDEV: r.other_selectors = true; break;
            default: break;
          }
        });
        rules.push_back(std::move(r));
      });
  if (e.err != 0) {
    ThrowErrno(env, e.syscall, e.err, "", e.note);
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env, rules.size());
  for (size_t i = 0; i < rules.size(); i++) {
    const Rule& r = rules[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("priority", Napi::Number::New(env, r.priority));
    o.Set("table", Napi::Number::New(env, r.table));
    o.Set("action", Napi::Number::New(env, r.action));
    o.Set("dst", r.dst.empty() ? env.Null() : Napi::String::New(env, r.dst));
    o.Set("dstLength", Napi::Number::New(env, r.dst_len));
    o.Set("src", r.src.empty() ? env.Null() : Napi::String::New(env, r.src));
    o.Set("srcLength", Napi::Number::New(env, r.src_len));
    o.Set("otherSelectors", Napi::Boolean::New(env, r.other_selectors));
    o.Set("invert", Napi::Boolean::New(env, r.invert));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

}  // namespace wp
