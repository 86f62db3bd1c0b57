#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <napi.h>

namespace wp {

// inet_ntop for 4 (IPv4) or 16 (IPv6) bytes; "" for other lengths.
std::string FormatIP(const uint8_t* bytes, size_t len);
// "aa:bb:cc:dd:ee:ff"
std::string FormatMac(const uint8_t* bytes);

// An address of either family as the kernel gave it (4 or 16 bytes); len 0: none.
struct RawIp {
  size_t len = 0;
  uint8_t bytes[16] = {};
  bool empty() const { return len == 0; }
  // Keeps 4 or 16 bytes; any other length leaves it empty.
  void Set(const uint8_t* data, size_t n);
};

// The JS form of an address (IpAddress in src/addr/ip.ts): {family: 4, v4: uint32} or {family: 6, bytes: Buffer
// of 16}; null when empty. Numbers, not text: TypeScript never parses what the kernel handed over.
Napi::Value IpValue(Napi::Env env, const RawIp& ip);

}  // namespace wp
