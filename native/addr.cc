#include "addr.h"

#include <arpa/inet.h>

#include <cstdio>

namespace wp {

std::string FormatIP(const uint8_t* bytes, size_t len) {
  char buf[INET6_ADDRSTRLEN];
  int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
  if (family == 0 || inet_ntop(family, bytes, buf, sizeof(buf)) == nullptr) return "";
  return buf;
}

std::string FormatIPv4(uint32_t network_order) {
  return FormatIP(reinterpret_cast<const uint8_t*>(&network_order), 4);
}

std::string FormatMac(const uint8_t* b) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return buf;
}

}  // namespace wp
