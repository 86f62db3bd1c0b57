#include "neigh_dump.h"

#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <vector>

#include "addr.h"
#include "errors.h"
#include "netlink.h"
#include "netlink_job.h"

namespace wp {

namespace {

struct Neighbour {
  int ifindex = 0;
  unsigned state = 0;  // NUD_*
  unsigned flags = 0;  // NTF_*
  std::string address;
  RawIp ip;
  std::string mac;  // "" when the entry has no link-layer address (incomplete, failed)
};

class ListNeighboursJob : public NetlinkJob {
 public:
  explicit ListNeighboursJob(int family) : family_(family) {}

  NetlinkError Run(NetlinkSocket& nl) override {
    ndmsg ndm{};
    ndm.ndm_family = static_cast<uint8_t>(family_);
    NetlinkRequest req(RTM_GETNEIGH, 0, &ndm, sizeof(ndm));
    return nl.Dump(req, "RTM_GETNEIGH", [&] { entries_.clear(); }, [&](const nlmsghdr* h) { Parse(h); });
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, entries_.size());
    for (size_t i = 0; i < entries_.size(); i++) {
      const Neighbour& n = entries_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("ifindex", Napi::Number::New(env, n.ifindex));
      o.Set("address", Napi::String::New(env, n.address));
      o.Set("ip", IpValue(env, n.ip));
      o.Set("mac", n.mac.empty() ? env.Null() : Napi::String::New(env, n.mac));
      o.Set("state", Napi::Number::New(env, n.state));
      o.Set("flags", Napi::Number::New(env, n.flags));
      out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
  }

 private:
  void Parse(const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWNEIGH || h->nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg))) return;
    const auto* ndm = static_cast<const ndmsg*>(NLMSG_DATA(h));
    if (ndm->ndm_family != family_) return;
    Neighbour n;
    n.ifindex = ndm->ndm_ifindex;
    n.state = ndm->ndm_state;
    n.flags = ndm->ndm_flags;
    const auto* attrs = reinterpret_cast<const uint8_t*>(ndm) + NLMSG_ALIGN(sizeof(ndmsg));
    const int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(ndmsg)));
    ForEachAttr(attrs, len, [&](uint16_t type, const uint8_t* data, size_t alen) {
      if (type == NDA_DST) {
        n.address = FormatIP(data, alen);
        n.ip.Set(data, alen);
      } else if (type == NDA_LLADDR && alen == 6) {
        n.mac = FormatMac(data);
      }
    });
    // Only entries for an address of the family asked (a malformed one has none).
    if (!n.address.empty()) entries_.push_back(std::move(n));
  }

  int family_;
  std::vector<Neighbour> entries_;
};

}  // namespace

std::unique_ptr<NetlinkJob> MakeListNeighboursJob(int family) {
  return std::make_unique<ListNeighboursJob>(family);
}

}  // namespace wp
