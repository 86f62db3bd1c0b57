#include "inet_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "addr.h"
#include "args.h"
#include "batch_tx.h"
#include "errors.h"
#include "netns.h"
#include "pmtu.h"
#include "sockaddr.h"
#include "sockopts.h"
#include "unique_fd.h"

namespace wp {

void InetSocket::Init(Napi::Env env, Napi::Object exports) {
  std::vector<Descriptor> props = CommonMethods();
  props.push_back(InstanceMethod<&InetSocket::Send>("send"));
  props.push_back(InstanceMethod<&InetSocket::Stats>("stats"));
  props.push_back(InstanceMethod<&InetSocket::LocalAddress>("localAddress"));
  Napi::Function ctor = DefineClass(env, "InetSocket", props);
  exports.Set("InetSocket", ctor);
}

InetSocket::InetSocket(const Napi::CallbackInfo& info)
    : SocketWrap<InetSocket>(info, MetaKind::kInet, "wireprobe.InetSocket") {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowTypeError(env, "InetSocket(options): options must be an object");
    return;
  }
  Napi::Object opts = info[0].As<Napi::Object>();
  std::optional<std::string> type, device;
  int64_t protocol = 0;
  std::string netns;
  std::optional<bool> hdrincl, pmtu_probe;
  std::optional<std::vector<uint8_t>> filter;
  std::optional<int64_t> bind_port, rcvbuf, sndbuf;
  if (!ReadOptionalString(env, opts.Get("type"), "options.type", &type)) return;
  if (!type || (*type != "raw" && *type != "dgram")) {
    ThrowTypeError(env, "options.type must be \"raw\" or \"dgram\"");
    return;
  }
  raw_ = *type == "raw";
  Napi::Value family = opts.Get("family");
  if (!family.IsUndefined() && !family.IsNull()) {
    double f = family.IsNumber() ? family.As<Napi::Number>().DoubleValue() : 0;
    if (f != 4 && f != 6) {
      ThrowTypeError(env, "options.family must be 4 or 6");
      return;
    }
    family_ = f == 6 ? AF_INET6 : AF_INET;
  }
  if (!ReadRequiredInt(env, opts.Get("protocol"), "options.protocol", 0, 255, &protocol) ||
      !ReadNetns(env, opts.Get("netns"), "options.netns", &netns) ||
      !ReadOptionalString(env, opts.Get("device"), "options.device", &device) ||
      !ReadOptionalBool(env, opts.Get("hdrincl"), "options.hdrincl", &hdrincl) ||
      !ReadOptionalBool(env, opts.Get("pmtuProbe"), "options.pmtuProbe", &pmtu_probe) ||
      !ReadOptionalFilter(env, opts.Get("filter"), "options.filter", &filter) ||
      !ReadOptionalInt(env, opts.Get("bindPort"), "options.bindPort", 0, 65535, &bind_port) ||
      !ReadOptionalInt(env, opts.Get("rcvbuf"), "options.rcvbuf", 1, INT32_MAX, &rcvbuf) ||
      !ReadOptionalInt(env, opts.Get("sndbuf"), "options.sndbuf", 1, INT32_MAX, &sndbuf)) {
    return;
  }
  if (hdrincl.value_or(false) && !raw_) {
    ThrowTypeError(env, "options.hdrincl needs type \"raw\"");
    return;
  }
  if (hdrincl.value_or(false) && family_ != AF_INET) {
    ThrowTypeError(env, "options.hdrincl needs family 4");
    return;
  }
  if (device && (device->empty() || device->size() >= 16)) {
    ThrowTypeError(env, "options.device must be an interface name of 1 to 15 characters");
    return;
  }
  uint8_t bind_bytes[16] = {};
  Napi::Value bind_address = opts.Get("bindAddress");
  bool have_bind_address = !bind_address.IsUndefined() && !bind_address.IsNull();
  if (have_bind_address && !ReadAddressText(env, bind_address, "options.bindAddress", family_, bind_bytes)) return;
  uint16_t local_port = static_cast<uint16_t>(bind_port.value_or(0));
  SockaddrList local;
  BuildSockaddrs(family_, bind_bytes, &local_port, 1, &local);

  UniqueFd fd;
  SysResult r = RunInNetns(netns, [&](const char** syscall) {
    int kind = raw_ ? SOCK_RAW : SOCK_DGRAM;
    fd.reset(socket(family_, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, static_cast<int>(protocol)));
    if (!fd) {
      *syscall = "socket";
      return errno;
    }
    return 0;
  });
  if (r.err != 0) {
    ThrowSysResult(env, r, netns);
    return;
  }
  r = SetBufferSizes(fd.get(), rcvbuf, sndbuf);
  // IPv6 sockets have no IP_HDRINCL to turn off (only false gets here for them).
  if (r.err == 0 && hdrincl && family_ == AF_INET) {
    int on = *hdrincl ? 1 : 0;
    if (setsockopt(fd.get(), IPPROTO_IP, IP_HDRINCL, &on, sizeof(on)) != 0) r = {errno, "setsockopt(IP_HDRINCL)"};
  }
  if (r.err == 0 && family_ == AF_INET6 && !raw_) {
    // One family per socket: no IPv4-mapped peers, so every name it sends to or hears from is an IPv6 one (a raw
    // IPv6 socket has none anyway, and refuses the option).
    int on = 1;
    if (setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) r = {errno, "setsockopt(IPV6_V6ONLY)"};
  }
  if (r.err == 0 && pmtu_probe.value_or(false)) r = SetPmtuProbe(fd.get(), family_);
  if (r.err == 0 && device &&
      setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, device->c_str(), static_cast<socklen_t>(device->size())) !=
          0) {
    r = {errno, "setsockopt(SO_BINDTODEVICE)"};
  }
  if (r.err == 0 && filter) {
    r = AttachFilter(fd.get(), *filter);
    // Unlike a packet socket, an inet socket receives from the moment it exists.
    if (r.err == 0) DrainSocket(fd.get());
  }
  if (r.err == 0) r = EnableRxMetadata(fd.get(), true);
  if (r.err != 0) {
    ThrowSysResult(env, r);
    return;
  }
  if ((have_bind_address || bind_port) && bind(fd.get(), local.data(), local.len) != 0) {
    ThrowErrno(env, "bind", errno);
    return;
  }
  core_.Adopt(fd.release());
}

Napi::Value InetSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<ByteView> packets;
  if (!ReadBufferArray(env, info[0], "send(packets): packets", &packets)) return env.Undefined();
  const uint8_t* packed = nullptr;
  if (!ReadPackedAddresses(env, info[1], "send(packets, addresses): addresses", family_, packets.size(), &packed)) {
    return env.Undefined();
  }
  std::vector<uint16_t> ports;
  bool have_ports = !info[2].IsUndefined() && !info[2].IsNull();
  if (have_ports) {
    if (!info[2].IsArray() || info[2].As<Napi::Array>().Length() != packets.size()) {
      ThrowTypeError(env, "send(packets, addresses, ports): ports must be an array as long as packets");
      return env.Undefined();
    }
    Napi::Array list = info[2].As<Napi::Array>();
    ports.resize(packets.size());
    for (uint32_t i = 0; i < packets.size(); i++) {
      int64_t port = 0;
      std::string what = "ports[" + std::to_string(i) + "]";
      if (!ReadRequiredInt(env, list.Get(i), what.c_str(), 0, 65535, &port)) return env.Undefined();
      ports[i] = static_cast<uint16_t>(port);
    }
  }
  // Raw sockets have no ports; Linux ignores the name's port there (or refuses a nonzero one for IPv6).
  SockaddrList names;
  BuildSockaddrs(family_, packed, have_ports && !raw_ ? ports.data() : nullptr, packets.size(), &names);
  if (!core_.CheckOpen("sendmmsg")) return env.Undefined();
  SendResult r = core_.Send(packets, names.data(), names.len);
  return SendOutcome(env, r);
}

Napi::Value InetSocket::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!core_.CheckOpen("stats")) return env.Undefined();
  // No PACKET_STATISTICS here: packets are those we read, drops come from SO_RXQ_OVFL.
  uint64_t packets = 0, drops = 0;
  core_.TakeRxCounters(&packets, &drops);
  Napi::Object out = Napi::Object::New(env);
  out.Set("packets", Napi::Number::New(env, static_cast<double>(packets)));
  out.Set("drops", Napi::Number::New(env, static_cast<double>(drops)));
  return out;
}

Napi::Value InetSocket::LocalAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!core_.CheckOpen("getsockname")) return env.Undefined();
  sockaddr_storage name{};
  socklen_t len = sizeof(name);
  if (getsockname(core_.fd(), reinterpret_cast<sockaddr*>(&name), &len) != 0) {
    ThrowErrno(env, "getsockname", errno);
    return env.Undefined();
  }
  int family = 0;
  uint8_t bytes[16] = {};
  uint16_t port = 0;
  ReadSockaddr(name, len, &family, bytes, &port);
  Napi::Object out = Napi::Object::New(env);
  out.Set("family", Napi::Number::New(env, family == AF_INET6 ? 6 : 4));
  out.Set("address", Napi::String::New(env, FormatIP(bytes, AddressLength(family == 0 ? family_ : family))));
  out.Set("port", Napi::Number::New(env, port));
  return out;
}

}  // namespace wp
