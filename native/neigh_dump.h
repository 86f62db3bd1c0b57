#pragma once

#include <memory>

#include "netlink_job.h"

namespace wp {

// RTM_GETNEIGH dump of one family's neighbour entries (AF_INET: the ARP cache, AF_INET6: the NDP cache), as
// NeighbourEntry[] in types.ts. Read only to compare: no probe ever takes a MAC from it.
std::unique_ptr<NetlinkJob> MakeListNeighboursJob(int family);

}  // namespace wp
