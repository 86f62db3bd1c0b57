#pragma once

#include <memory>

#include "netlink_job.h"

namespace wp {

// RTM_GETROUTE dump of every IPv4 route in every table, packed (PackedRoutes in types.ts; binding.ts makes the
// RouteEntry[] of it). Lets a prober answer most destinations of a sweep from one snapshot of the tables instead
// of one request each.
std::unique_ptr<NetlinkJob> MakeListRoutesJob();

// RTM_GETRULE dump of the IPv4 policy rules (RuleEntry[] in types.ts).
std::unique_ptr<NetlinkJob> MakeListRulesJob();

}  // namespace wp
