#pragma once

#include <memory>

#include "netlink_job.h"

namespace wp {

// RTM_GETROUTE dump of every route of one family (AF_INET or AF_INET6) in every table, packed (PackedRoutes in types.ts; binding.ts makes the
// RouteEntry[] of it). Lets a prober answer most destinations of a sweep from one snapshot of the tables instead
// of one request each.
std::unique_ptr<NetlinkJob> MakeListRoutesJob(int family);

// RTM_GETRULE dump of one family's policy rules (RuleEntry[] in types.ts).
std::unique_ptr<NetlinkJob> MakeListRulesJob(int family);

}  // namespace wp
