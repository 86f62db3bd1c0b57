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
  std::optional<std::string> type, device, bind_address;
  int64_t protocol = 0;
  std::string netns;
  std::optional<bool> hdrincl;
  std::optional<std::vector<uint8_t>> filter;
  std::optional<int64_t> bind_port, rcvbuf, sndbuf;
  if (!ReadOptionalString(env, opts.Get("type"), "options.type", &type)) return;
  if (!type || (*type != "raw" && *type != "dgram")) {
    ThrowTypeError(env, "options.type must be \"raw\" or \"dgram\"");
    return;
  }
  raw_ = *type == "raw";
  if (!ReadRequiredInt(env, opts.Get("protocol"), "options.protocol", 0, 255, &protocol) ||
      !ReadNetns(env, opts.Get("netns"), "options.netns", &netns) ||
      !ReadOptionalString(env, opts.Get("device"), "options.device", &device) ||
      !ReadOptionalBool(env, opts.Get("hdrincl"), "options.hdrincl", &hdrincl) ||
      !ReadOptionalFilter(env, opts.Get("filter"), "options.filter", &filter) ||
      !ReadOptionalString(env, opts.Get("bindAddress"), "options.bindAddress", &bind_address) ||
      !ReadOptionalInt(env, opts.Get("bindPort"), "options.bindPort", 0, 65535, &bind_port) ||
      !ReadOptionalInt(env, opts.Get("rcvbuf"), "options.rcvbuf", 1, INT32_MAX, &rcvbuf) ||
      !ReadOptionalInt(env, opts.Get("sndbuf"), "options.sndbuf", 1, INT32_MAX, &sndbuf)) {
    return;
  }
  if (hdrincl.value_or(false) && !raw_) {
    ThrowTypeError(env, "options.hdrincl needs type \"raw\"");
    return;
  }
  if (device && (device->empty() || device->size() >= 16)) {
    ThrowTypeError(env, "options.device must be an interface name of 1 to 15 characters");
    return;
  }
  sockaddr_in local{};
  local.sin_family = AF_INET;
  if (bind_address && inet_pton(AF_INET, bind_address->c_str(), &local.sin_addr) != 1) {
    ThrowTypeError(env, "options.bindAddress is not a valid IPv4 address: \"" + *bind_address + "\"");
    return;
  }
  local.sin_port = htons(static_cast<uint16_t>(bind_port.value_or(0)));

  UniqueFd fd;
  SysResult r = RunInNetns(netns, [&](const char** syscall) {
    int kind = raw_ ? SOCK_RAW : SOCK_DGRAM;
    fd.reset(socket(AF_INET, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, static_cast<int>(protocol)));
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
  if (r.err == 0 && hdrincl) {
    int on = *hdrincl ? 1 : 0;
    if (setsockopt(fd.get(), IPPROTO_IP, IP_HDRINCL, &on, sizeof(on)) != 0) r = {errno, "setsockopt(IP_HDRINCL)"};
  }
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
  if ((bind_address || bind_port) && bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    ThrowErrno(env, "bind", errno);
    return;
  }
  core_.Adopt(fd.release());
}

Napi::Value InetSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<ByteView> packets;
  if (!ReadBufferArray(env, info[0], "send(packets): packets", &packets)) return env.Undefined();
  if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() != packets.size()) {
    ThrowTypeError(env, "send(packets, addresses): addresses must be an array as long as packets");
    return env.Undefined();
  }
  Napi::Array addresses = info[1].As<Napi::Array>();
  Napi::Array ports;
  bool have_ports = !info[2].IsUndefined() && !info[2].IsNull();
  if (have_ports) {
    if (!info[2].IsArray() || info[2].As<Napi::Array>().Length() != packets.size()) {
      ThrowTypeError(env, "send(packets, addresses, ports): ports must be an array as long as packets");
      return env.Undefined();
    }
    ports = info[2].As<Napi::Array>();
  }
  std::vector<sockaddr_in> names(packets.size());
  for (uint32_t i = 0; i < packets.size(); i++) {
    sockaddr_in& sin = names[i];
    sin.sin_family = AF_INET;
    std::string what = "addresses[" + std::to_string(i) + "]";
    if (!ReadIPv4(env, addresses.Get(i), what.c_str(), &sin.sin_addr)) return env.Undefined();
    if (have_ports) {
      int64_t port = 0;
      what = "ports[" + std::to_string(i) + "]";
      if (!ReadRequiredInt(env, ports.Get(i), what.c_str(), 0, 65535, &port)) return env.Undefined();
      // Raw sockets have no ports; Linux ignores sin_port there.
      if (!raw_) sin.sin_port = htons(static_cast<uint16_t>(port));
    }
  }
  if (!core_.CheckOpen("sendmmsg")) return env.Undefined();
  SendResult r = core_.Send(packets, reinterpret_cast<const sockaddr*>(names.data()), sizeof(sockaddr_in));
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
  sockaddr_in sin{};
  socklen_t len = sizeof(sin);
  if (getsockname(core_.fd(), reinterpret_cast<sockaddr*>(&sin), &len) != 0) {
    ThrowErrno(env, "getsockname", errno);
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("address", Napi::String::New(env, FormatIPv4(sin.sin_addr.s_addr)));
  out.Set("port", Napi::Number::New(env, ntohs(sin.sin_port)));
  return out;
}

}  // namespace wp
