#include "socket_fd.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <optional>
#include <string>

#include "args.h"
#include "errors.h"
#include "netns.h"
#include "unique_fd.h"

namespace wp {

Napi::Value OpenSocketFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowTypeError(env, "openSocketFd(options): options must be an object");
    return env.Undefined();
  }
  Napi::Object opts = info[0].As<Napi::Object>();
  std::optional<std::string> type, device;
  int64_t protocol = 0;
  std::string netns;
  int family = AF_INET;
  Napi::Value family_value = opts.Get("family");
  if (!family_value.IsUndefined() && !family_value.IsNull()) {
    double f = family_value.IsNumber() ? family_value.As<Napi::Number>().DoubleValue() : 0;
    if (f != 4 && f != 6) {
      ThrowTypeError(env, "options.family must be 4 or 6");
      return env.Undefined();
    }
    family = f == 6 ? AF_INET6 : AF_INET;
  }
  if (!ReadOptionalString(env, opts.Get("type"), "options.type", &type)) return env.Undefined();
  int kind;
  if (type == "stream") {
    kind = SOCK_STREAM;
  } else if (type == "dgram") {
    kind = SOCK_DGRAM;
  } else if (type == "raw") {
    kind = SOCK_RAW;
  } else {
    ThrowTypeError(env, "options.type must be \"stream\", \"dgram\" or \"raw\"");
    return env.Undefined();
  }
  if (!ReadRequiredInt(env, opts.Get("protocol"), "options.protocol", 0, 255, &protocol) ||
      !ReadNetns(env, opts.Get("netns"), "options.netns", &netns) ||
      !ReadOptionalString(env, opts.Get("device"), "options.device", &device)) {
    return env.Undefined();
  }
  if (device && (device->empty() || device->size() >= 16)) {
    ThrowTypeError(env, "options.device must be an interface name of 1 to 15 characters");
    return env.Undefined();
  }

  UniqueFd fd;
  // The namespace is fixed when the socket is created; connect/bind later act inside it from any thread.
  SysResult r = RunInNetns(netns, [&](const char** syscall) {
    fd.reset(socket(family, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, static_cast<int>(protocol)));
    if (!fd) {
      *syscall = "socket";
      return errno;
    }
    return 0;
  });
  if (r.err != 0) {
    ThrowSysResult(env, r, netns);
    return env.Undefined();
  }
  if (device &&
      setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, device->c_str(), static_cast<socklen_t>(device->size())) !=
          0) {
    ThrowErrno(env, "setsockopt(SO_BINDTODEVICE)", errno);
    return env.Undefined();
  }
  return Napi::Number::New(env, fd.release());
}

}  // namespace wp
