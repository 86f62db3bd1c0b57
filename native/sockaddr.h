#pragma once

#include <napi.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

// Socket addresses of either family (AF_INET, AF_INET6), built from and read into the packed numeric form that
// crosses to JavaScript: 4 bytes per IPv4 address, 16 per IPv6 address, network order. No text on the way.
namespace wp {

// 4 for AF_INET, 16 for AF_INET6, 0 otherwise.
size_t AddressLength(int family);
// sizeof(sockaddr_in) or sizeof(sockaddr_in6); 0 for another family.
socklen_t SockaddrLength(int family);
// "IPv4" / "IPv6"
const char* FamilyName(int family);

// One sockaddr per message, back to back, SockaddrLength(family) bytes each (the layout SendBatch takes).
struct SockaddrList {
  std::vector<uint8_t> bytes;
  socklen_t len = 0;
  const sockaddr* data() const { return reinterpret_cast<const sockaddr*>(bytes.data()); }
};

// Builds n addresses of `family` from `packed` (n * AddressLength(family) bytes) and, when given, ports.
void BuildSockaddrs(int family, const uint8_t* packed, const uint16_t* ports, size_t n, SockaddrList* out);

// Reads the address (AddressLength(*family) bytes into out[16]) and port of a name the kernel filled in; false
// when it is no AF_INET/AF_INET6 name or namelen is too short for its family.
bool ReadSockaddr(const sockaddr_storage& name, socklen_t namelen, int* family, uint8_t out[16], uint16_t* port);

// A packed address list argument: a Buffer or Uint8Array of exactly count * AddressLength(family) bytes. False
// after throwing a TypeError that says what was expected.
bool ReadPackedAddresses(Napi::Env env, Napi::Value v, const char* what, int family, size_t count,
                         const uint8_t** out);

// One address of `family` in text form (a socket option such as bindAddress); false after throwing a TypeError.
bool ReadAddressText(Napi::Env env, Napi::Value v, const char* what, int family, uint8_t out[16]);

}  // namespace wp
