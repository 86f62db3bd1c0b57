#include "links.h"

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "addr.h"
#include "args.h"
#include "errors.h"
#include "netlink.h"
#include "netlink_job.h"

namespace wp {
namespace {

struct Address {
  int family;
  std::string address;
  RawIp ip;
  unsigned prefix_length;
  std::string broadcast;
  unsigned scope;
};

struct Link {
  int index = 0;
  std::string name;
  std::string mac;
  uint32_t mtu = 0;
  uint32_t flags = 0;
  unsigned hw_type = 0;
  std::vector<Address> addresses;
};

void ParseLink(const nlmsghdr* h, std::vector<Link>* links) {
  if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return;
  const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
  Link link;
  link.index = ifi->ifi_index;
  link.flags = ifi->ifi_flags;
  link.hw_type = ifi->ifi_type;
  ForEachAttr(IFLA_RTA(ifi), static_cast<int>(IFLA_PAYLOAD(h)), [&](uint16_t type, const uint8_t* data, size_t len) {
    if (type == IFLA_IFNAME) {
      link.name.assign(reinterpret_cast<const char*>(data), strnlen(reinterpret_cast<const char*>(data), len));
    } else if (type == IFLA_ADDRESS && len == 6) {
      link.mac = FormatMac(data);
    } else if (type == IFLA_MTU && len >= 4) {
      std::memcpy(&link.mtu, data, 4);
    }
  });
  links->push_back(std::move(link));
}

void ParseAddress(const nlmsghdr* h, std::map<int, std::vector<Address>>* by_link) {
  if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) return;
  const auto* ifa = static_cast<const ifaddrmsg*>(NLMSG_DATA(h));
  if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return;
  Address a{ifa->ifa_family == AF_INET ? 4 : 6, "", RawIp{}, ifa->ifa_prefixlen, "", ifa->ifa_scope};
  std::string local, address;
  RawIp local_ip, address_ip;
  ForEachAttr(IFA_RTA(ifa), static_cast<int>(IFA_PAYLOAD(h)), [&](uint16_t type, const uint8_t* data, size_t len) {
    if (type == IFA_LOCAL) {
      local = FormatIP(data, len);
      local_ip.Set(data, len);
    }
    if (type == IFA_ADDRESS) {
      address = FormatIP(data, len);
      address_ip.Set(data, len);
    }
    if (type == IFA_BROADCAST) a.broadcast = FormatIP(data, len);
  });
  // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is ours.
  a.address = local.empty() ? address : local;
  a.ip = local.empty() ? address_ip : local_ip;
  if (a.address.empty()) return;
  (*by_link)[static_cast<int>(ifa->ifa_index)].push_back(std::move(a));
}

Napi::Object ToJS(Napi::Env env, const Link& l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", Napi::Number::New(env, l.index));
  o.Set("name", Napi::String::New(env, l.name));
  o.Set("mac", l.mac.empty() ? env.Null() : Napi::String::New(env, l.mac));
  o.Set("mtu", Napi::Number::New(env, l.mtu));
  o.Set("flags", Napi::Number::New(env, l.flags));
  o.Set("up", Napi::Boolean::New(env, (l.flags & IFF_UP) != 0));
  o.Set("hwType", Napi::Number::New(env, l.hw_type));
  Napi::Array addrs = Napi::Array::New(env, l.addresses.size());
  for (size_t i = 0; i < l.addresses.size(); i++) {
    const Address& a = l.addresses[i];
    Napi::Object ao = Napi::Object::New(env);
    ao.Set("family", Napi::Number::New(env, a.family));
    ao.Set("address", Napi::String::New(env, a.address));
    ao.Set("ip", IpValue(env, a.ip));
    ao.Set("prefixLength", Napi::Number::New(env, a.prefix_length));
    ao.Set("broadcast", a.broadcast.empty() ? env.Null() : Napi::String::New(env, a.broadcast));
    ao.Set("scope", Napi::Number::New(env, a.scope));
    addrs.Set(static_cast<uint32_t>(i), ao);
  }
  o.Set("addresses", addrs);
  return o;
}

class ListLinksJob : public NetlinkJob {
 public:
  NetlinkError Run(NetlinkSocket& nl) override {
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    NetlinkRequest link_req(RTM_GETLINK, 0, &ifi, sizeof(ifi));
    NetlinkError e = nl.Dump(
        link_req, "RTM_GETLINK", [&] { links_.clear(); }, [&](const nlmsghdr* h) { ParseLink(h, &links_); });
    if (e.err != 0) return e;

    std::map<int, std::vector<Address>> by_link;
    ifaddrmsg ifa{};
    ifa.ifa_family = AF_UNSPEC;
    NetlinkRequest addr_req(RTM_GETADDR, 0, &ifa, sizeof(ifa));
    e = nl.Dump(
        addr_req, "RTM_GETADDR", [&] { by_link.clear(); }, [&](const nlmsghdr* h) { ParseAddress(h, &by_link); });
    if (e.err != 0) return e;
    for (Link& link : links_) {
      auto it = by_link.find(link.index);
      if (it != by_link.end()) link.addresses = std::move(it->second);
    }
    return e;
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, links_.size());
    for (size_t i = 0; i < links_.size(); i++) out.Set(static_cast<uint32_t>(i), ToJS(env, links_[i]));
    return out;
  }

 private:
  std::vector<Link> links_;
};

}  // namespace

std::unique_ptr<NetlinkJob> MakeListLinksJob() { return std::make_unique<ListLinksJob>(); }

Napi::Value ListLinks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string netns;
  if (!ReadNetns(env, info[0], "listLinks(netns): netns", &netns)) return env.Undefined();
  ListLinksJob job;
  return RunJobNow(env, nullptr, netns, job);
}

Napi::Value ListLinksAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string netns;
  if (!ReadNetns(env, info[0], "listLinksAsync(netns): netns", &netns)) return env.Undefined();
  return QueueJob(env, nullptr, netns, MakeListLinksJob());
}

}  // namespace wp
