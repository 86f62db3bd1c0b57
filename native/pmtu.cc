#include "pmtu.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

namespace wp {

SysResult SetPmtuProbe(int fd, int family) {
  int mode = family == AF_INET6 ? IPV6_PMTUDISC_PROBE : IP_PMTUDISC_PROBE;
  int level = family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
  int name = family == AF_INET6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER;
  if (setsockopt(fd, level, name, &mode, sizeof(mode)) != 0) {
    return {errno, family == AF_INET6 ? "setsockopt(IPV6_MTU_DISCOVER)" : "setsockopt(IP_MTU_DISCOVER)"};
  }
  return {};
}

}  // namespace wp
