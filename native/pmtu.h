#pragma once

#include "sys_result.h"

// Path MTU discovery mode of an IPv4 or IPv6 socket, for probes that measure the path MTU themselves.
namespace wp {

// IP_MTU_DISCOVER = IP_PMTUDISC_PROBE (family AF_INET) or IPV6_MTU_DISCOVER = IPV6_PMTUDISC_PROBE (AF_INET6):
// every packet goes out whole with Don't Fragment (IPv6: never fragmented here), sized against the interface's
// MTU only. The kernel's path MTU cache for the destination (what a frag-needed / packet-too-big taught it,
// `ip route get` shows it as `mtu`) is ignored, so a send is never refused with EMSGSIZE because of an earlier
// answer: a probe of a size above a cached PMTU still reaches the wire, and the router's ICMP error is read by
// the caller rather than swallowed by the kernel.
SysResult SetPmtuProbe(int fd, int family);

}  // namespace wp
