#include "addr.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace wp {

std::string FormatIP(const uint8_t* bytes, size_t len) {
  char buf[INET6_ADDRSTRLEN];
  int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
  if (family == 0 || inet_ntop(family, bytes, buf, sizeof(buf)) == nullptr) return "";
  return buf;
}

std::string FormatMac(const uint8_t* b) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return buf;
}

void RawIp::Set(const uint8_t* data, size_t n) {
  len = n == 4 || n == 16 ? n : 0;
  if (len != 0) std::memcpy(bytes, data, len);
}

Napi::Value IpValue(Napi::Env env, const RawIp& ip) {
  if (ip.empty()) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  if (ip.len == 4) {
    o.Set("family", Napi::Number::New(env, 4));
    double v = static_cast<double>(ip.bytes[0]) * 16777216.0 + ((ip.bytes[1] << 16) | (ip.bytes[2] << 8) | ip.bytes[3]);
    o.Set("v4", Napi::Number::New(env, v));
  } else {
    o.Set("family", Napi::Number::New(env, 6));
    o.Set("bytes", Napi::Buffer<uint8_t>::Copy(env, ip.bytes, 16));
  }
  return o;
}

}  // namespace wp
