#include "packet_socket.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <cerrno>
#include <optional>

#include "args.h"
#include "batch_tx.h"
#include "errors.h"
#include "netns.h"
#include "sockopts.h"
#include "unique_fd.h"

namespace wp {

void PacketSocket::Init(Napi::Env env, Napi::Object exports) {
  std::vector<Descriptor> props = CommonMethods();
  props.push_back(InstanceMethod<&PacketSocket::Send>("send"));
  props.push_back(InstanceMethod<&PacketSocket::Stats>("stats"));
  Napi::Function ctor = DefineClass(env, "PacketSocket", props);
  exports.Set("PacketSocket", ctor);
}

PacketSocket::PacketSocket(const Napi::CallbackInfo& info)
    : SocketWrap<PacketSocket>(info, MetaKind::kPacket, "wireprobe.PacketSocket") {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowTypeError(env, "PacketSocket(options): options must be an object");
    return;
  }
  Napi::Object opts = info[0].As<Napi::Object>();
  int64_t ifindex = 0, protocol = 0;
  std::string netns;
  std::optional<std::vector<uint8_t>> filter;
  std::optional<int64_t> rcvbuf, sndbuf;
  if (!ReadRequiredInt(env, opts.Get("ifindex"), "options.ifindex", 0, INT32_MAX, &ifindex) ||
      !ReadRequiredInt(env, opts.Get("protocol"), "options.protocol", 0, 0xffff, &protocol) ||
      !ReadNetns(env, opts.Get("netns"), "options.netns", &netns) ||
      !ReadOptionalFilter(env, opts.Get("filter"), "options.filter", &filter) ||
      !ReadOptionalInt(env, opts.Get("rcvbuf"), "options.rcvbuf", 1, INT32_MAX, &rcvbuf) ||
      !ReadOptionalInt(env, opts.Get("sndbuf"), "options.sndbuf", 1, INT32_MAX, &sndbuf)) {
    return;
  }

  // Protocol 0 receives nothing, so no packet arrives before the filter is in place and the bind
  // below selects the real protocol.
  UniqueFd fd;
  SysResult r = RunInNetns(netns, [&](const char** syscall) {
    fd.reset(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
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
  if (r.err == 0 && filter) r = AttachFilter(fd.get(), *filter);
  if (r.err == 0) r = EnableRxMetadata(fd.get(), false);
  if (r.err != 0) {
    ThrowSysResult(env, r);
    return;
  }
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(static_cast<uint16_t>(protocol));
  sll.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) {
    ThrowErrno(env, "bind", errno);
    return;
  }
  core_.Adopt(fd.release());
}

Napi::Value PacketSocket::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<ByteView> frames;
  if (!ReadBufferArray(env, info[0], "send(frames): frames", &frames)) return env.Undefined();
  if (!core_.CheckOpen("sendmmsg")) return env.Undefined();
  SendResult r = core_.Send(frames, nullptr, 0);
  return SendOutcome(env, r);
}

Napi::Value PacketSocket::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!core_.CheckOpen("getsockopt")) return env.Undefined();
  tpacket_stats st{};
  socklen_t len = sizeof(st);
  // Reading resets the kernel's counters, hence "since the last call".
  if (getsockopt(core_.fd(), SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) {
    ThrowErrno(env, "getsockopt(PACKET_STATISTICS)", errno);
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("packets", Napi::Number::New(env, st.tp_packets));
  out.Set("drops", Napi::Number::New(env, st.tp_drops));
  return out;
}

}  // namespace wp
