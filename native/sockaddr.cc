#include "sockaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "errors.h"

namespace wp {

size_t AddressLength(int family) {
  return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

socklen_t SockaddrLength(int family) {
  return family == AF_INET ? sizeof(sockaddr_in) : family == AF_INET6 ? sizeof(sockaddr_in6) : 0;
}

const char* FamilyName(int family) { return family == AF_INET6 ? "IPv6" : "IPv4"; }

void BuildSockaddrs(int family, const uint8_t* packed, const uint16_t* ports, size_t n, SockaddrList* out) {
  const size_t alen = AddressLength(family);
  out->len = SockaddrLength(family);
  out->bytes.assign(n * out->len, 0);
  for (size_t i = 0; i < n; i++) {
    uint8_t* at = out->bytes.data() + i * out->len;
    uint16_t port = htons(ports != nullptr ? ports[i] : 0);
    // memcpy through a local: the list is packed at the family's own length, whatever the alignment.
    if (family == AF_INET) {
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_port = port;
      std::memcpy(&sin.sin_addr, packed + i * alen, alen);
      std::memcpy(at, &sin, sizeof(sin));
    } else {
      sockaddr_in6 sin6{};
      sin6.sin6_family = AF_INET6;
      sin6.sin6_port = port;
      std::memcpy(&sin6.sin6_addr, packed + i * alen, alen);
      std::memcpy(at, &sin6, sizeof(sin6));
    }
  }
}

bool ReadSockaddr(const sockaddr_storage& name, socklen_t namelen, int* family, uint8_t out[16], uint16_t* port) {
  if (name.ss_family == AF_INET && namelen >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&name);
    *family = AF_INET;
    std::memcpy(out, &sin->sin_addr, 4);
    *port = ntohs(sin->sin_port);
    return true;
  }
  if (name.ss_family == AF_INET6 && namelen >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&name);
    *family = AF_INET6;
    std::memcpy(out, &sin6->sin6_addr, 16);
    *port = ntohs(sin6->sin6_port);
    return true;
  }
  return false;
}

bool ReadPackedAddresses(Napi::Env env, Napi::Value v, const char* what, int family, size_t count,
                         const uint8_t** out) {
  const size_t alen = AddressLength(family);
  const std::string expected = std::string(what) + " must be a Buffer of " + std::to_string(alen) +
                               " bytes per packet (packed " + FamilyName(family) + " addresses, network order)";
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowTypeError(env, expected);
    return false;
  }
  auto bytes = v.As<Napi::Uint8Array>();
  if (bytes.ByteLength() != count * alen) {
    ThrowTypeError(env, expected + ": got " + std::to_string(bytes.ByteLength()) + " bytes for " +
                            std::to_string(count) + " packets");
    return false;
  }
  *out = bytes.Data();
  return true;
}

bool ReadAddressText(Napi::Env env, Napi::Value v, const char* what, int family, uint8_t out[16]) {
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (!v.IsString() || inet_pton(family, s.c_str(), out) != 1) {
    ThrowTypeError(env, std::string(what) + " is not a valid " + FamilyName(family) + " address: \"" + s + "\"");
    return false;
  }
  return true;
}

}  // namespace wp
