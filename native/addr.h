#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace wp {

// inet_ntop for 4 (IPv4) or 16 (IPv6) bytes; "" for other lengths.
std::string FormatIP(const uint8_t* bytes, size_t len);
std::string FormatIPv4(uint32_t network_order);
// "aa:bb:cc:dd:ee:ff"
std::string FormatMac(const uint8_t* bytes);

}  // namespace wp
