#include "route_dump.h"

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "addr.h"
#include "errors.h"
#include "netlink_job.h"
#include "route.h"

namespace wp {

namespace {

// A dump is handed to JS packed: kRouteNumbers numbers per route in one Float64Array and kRouteStrings strings per
// route, each ended by '\n', in one string. Packing happens on the worker thread and JS builds the objects
// (src/native/packed.ts), which costs the event loop a fraction of what creating 20,000 objects through N-API does.
// table, protocol, scope, dstLength, ifindex, priority, multipath, dst (an IPv4 dump: its uint32, 0 for default;
// an IPv6 dump: 0, the text is in the strings), flags (rtm_flags), nhid (RTA_NH_ID, 0 for none)
constexpr size_t kRouteNumbers = 10;
// strings: type, dst, gateway ("" = none), prefsrc ("" = none), and the next hops of a multipath route ("" for
// any other): "GATEWAY,IFINDEX,FLAGS,WEIGHT" each, separated by spaces (GATEWAY "" for a device-only next hop)

void AppendNextHops(const Route& r, std::string* out) {
  for (size_t i = 0; i < r.nexthops.size(); i++) {
    const NextHop& nh = r.nexthops[i];
    if (i > 0) *out += ' ';
    *out += nh.gateway;
    *out += ',';
    *out += std::to_string(nh.oif);
    *out += ',';
    *out += std::to_string(nh.flags);
    *out += ',';
    *out += std::to_string(nh.weight);
  }
}

double DstV4(const Route& r) {
  if (r.dst_ip.len != 4) return 0;
  const uint8_t* b = r.dst_ip.bytes;
  return static_cast<double>(b[0]) * 16777216.0 + ((b[1] << 16) | (b[2] << 8) | b[3]);
}

class ListRoutesJob : public NetlinkJob {
 public:
  explicit ListRoutesJob(int family) : family_(family) {}

  NetlinkError Run(NetlinkSocket& nl) override {
    rtmsg rtm{};
    rtm.rtm_family = static_cast<unsigned char>(family_);
    NetlinkRequest req(RTM_GETROUTE, 0, &rtm, sizeof(rtm));
    std::vector<Route> routes;
    NetlinkError e = nl.Dump(
        req, "RTM_GETROUTE", [&] { routes.clear(); },
        [&](const nlmsghdr* h) {
          Route r;
          ParseRoute(h, &r);
          // An IPv6 dump also holds the kernel's cached clones (RTM_F_CLONED): they are no table entries.
          if (r.found && (reinterpret_cast<const rtmsg*>(NLMSG_DATA(h))->rtm_flags & RTM_F_CLONED) == 0)
            routes.push_back(std::move(r));
        });
    if (e.err != 0) return e;
    count_ = routes.size();
    numbers_.reserve(count_ * kRouteNumbers);
    strings_.reserve(count_ * 40);
    for (const Route& r : routes) {
      for (double v : {static_cast<double>(r.table), static_cast<double>(r.protocol), static_cast<double>(r.scope),
                       static_cast<double>(r.dst_len), static_cast<double>(r.oif), static_cast<double>(r.priority),
                       r.multipath ? 1.0 : 0.0, DstV4(r), static_cast<double>(r.flags),
                       static_cast<double>(r.nhid)}) {
        numbers_.push_back(v);
      }
      const char* name = RouteTypeName(r.type);
      strings_ += name != nullptr ? std::string(name) : std::to_string(r.type);
      strings_ += '\n';
      strings_ += r.dst.empty() ? (family_ == AF_INET6 ? "::" : "0.0.0.0") : r.dst;
      strings_ += '\n';
      strings_ += r.gateway;
      strings_ += '\n';
      strings_ += r.prefsrc;
      strings_ += '\n';
      AppendNextHops(r, &strings_);
      strings_ += '\n';
    }
    return e;
  }

  // {family, count, numbers, strings} (PackedRoutes in types.ts).
  Napi::Value Result(Napi::Env env) override {
    auto numbers = Napi::Float64Array::New(env, numbers_.size());
    if (!numbers_.empty()) std::memcpy(numbers.Data(), numbers_.data(), numbers_.size() * sizeof(double));
    Napi::Object out = Napi::Object::New(env);
    out.Set("family", Napi::Number::New(env, family_ == AF_INET6 ? 6 : 4));
    out.Set("count", Napi::Number::New(env, static_cast<double>(count_)));
    out.Set("numbers", numbers);
    out.Set("strings", Napi::String::New(env, strings_));
    return out;
  }

 private:
  int family_;
  size_t count_ = 0;
  std::vector<double> numbers_;
  std::string strings_;
};

}  // namespace

std::unique_ptr<NetlinkJob> MakeListRoutesJob(int family) { return std::make_unique<ListRoutesJob>(family); }

namespace {

struct Rule {
  uint32_t priority = 0;
  uint32_t table = 0;
  unsigned action = 0;
  unsigned dst_len = 0;
  unsigned src_len = 0;
  std::string dst;
  std::string src;
  RawIp dst_ip;
  RawIp src_ip;
  // any selector besides the addresses: iif, oif, fwmark, tos, uid range, protocol, ports, l3mdev
  bool other_selectors = false;
  bool invert = false;
  // FRA_L3MDEV: looks up the table of the VRF device the packet arrived on or leaves by (table 0 here)
  bool l3mdev = false;
};

class ListRulesJob : public NetlinkJob {
 public:
  explicit ListRulesJob(int family) : family_(family) {}

  NetlinkError Run(NetlinkSocket& nl) override {
    fib_rule_hdr frh{};
    frh.family = static_cast<uint8_t>(family_);
    NetlinkRequest req(RTM_GETRULE, 0, &frh, sizeof(frh));
    return nl.Dump(req, "RTM_GETRULE", [&] { rules_.clear(); }, [&](const nlmsghdr* h) { ParseRule(h); });
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, rules_.size());
    for (size_t i = 0; i < rules_.size(); i++) {
      const Rule& r = rules_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("priority", Napi::Number::New(env, r.priority));
      o.Set("table", Napi::Number::New(env, r.table));
      o.Set("action", Napi::Number::New(env, r.action));
      o.Set("dst", r.dst.empty() ? env.Null() : Napi::String::New(env, r.dst));
      o.Set("dstLength", Napi::Number::New(env, r.dst_len));
      o.Set("src", r.src.empty() ? env.Null() : Napi::String::New(env, r.src));
      o.Set("srcLength", Napi::Number::New(env, r.src_len));
      o.Set("dstIp", IpValue(env, r.dst_ip));
      o.Set("srcIp", IpValue(env, r.src_ip));
      o.Set("otherSelectors", Napi::Boolean::New(env, r.other_selectors));
      o.Set("invert", Napi::Boolean::New(env, r.invert));
      o.Set("l3mdev", Napi::Boolean::New(env, r.l3mdev));
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

 private:
  void ParseRule(const nlmsghdr* h) {
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
        case FRA_DST:
          r.dst = FormatIP(data, alen);
          r.dst_ip.Set(data, alen);
          break;
        case FRA_SRC:
          r.src = FormatIP(data, alen);
          r.src_ip.Set(data, alen);
          break;
        case FRA_PRIORITY:
          if (alen >= 4) std::memcpy(&r.priority, data, 4);
          break;
        case FRA_TABLE:
          if (alen >= 4) std::memcpy(&r.table, data, 4);
          break;
        case FRA_L3MDEV:
          r.other_selectors = true;
          r.l3mdev = alen >= 1 && data[0] != 0;
          break;
        case FRA_IIFNAME:
        case FRA_OIFNAME:
        case FRA_FWMARK:
        case FRA_UID_RANGE:
        case FRA_IP_PROTO:
        case FRA_SPORT_RANGE:
        case FRA_DPORT_RANGE: r.other_selectors = true; break;
        default: break;
      }
    });
    rules_.push_back(std::move(r));
  }

  int family_;
  std::vector<Rule> rules_;
};

}  // namespace

std::unique_ptr<NetlinkJob> MakeListRulesJob(int family) { return std::make_unique<ListRulesJob>(family); }

}  // namespace wp
